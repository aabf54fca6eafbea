// SPDX-License-Identifier: Apache-2.0

// Command protogen regenerates the Go code of the repository's .proto files
// with nothing but the go command: it compiles them with
// github.com/bufbuild/protocompile (no protoc) and hands the result, as the
// CodeGeneratorRequest protoc would send, to the unmodified protoc-gen-go
// and protoc-gen-go-grpc plugins, which this module pins as tools.
//
// Run from this directory (make generate, make verify-generated do):
//
//	go run . -root ../..          # rewrite the generated files
//	go run . -root ../.. -check   # fail when a committed file is stale
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// protos are the .proto files to generate, relative to the repository root;
// the Go files are written beside them.
var protos = []string{
	"scalers/external/externalscalerpb/externalscaler.proto",
}

// plugins run on every file, with paths=source_relative.
var plugins = []string{"protoc-gen-go", "protoc-gen-go-grpc"}

func main() {
	root := flag.String("root", "../..", "the repository root")
	check := flag.Bool("check", false, "compare with the committed files instead of writing them")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	req, err := request(root)
	if err != nil {
		return err
	}
	var stale []string
	for _, plugin := range plugins {
		files, err := generate(plugin, req)
		if err != nil {
			return err
		}
		for _, f := range files {
			path := filepath.Join(root, filepath.FromSlash(f.GetName()))
			if check {
				old, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(old, []byte(f.GetContent())) {
					stale = append(stale, path)
				}
				continue
			}
			if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
				return err
			}
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("generated files are stale: %v; run 'make generate' and commit the result", stale)
	}
	return nil
}

// request compiles the .proto files into the request protoc would send.
func request(root string) (*pluginpb.CodeGeneratorRequest, error) {
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{root}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := c.Compile(context.Background(), protos...)
	if err != nil {
		return nil, err
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: protos,
		Parameter:      proto.String("paths=source_relative"),
	}
	seen := map[string]bool{}
	for _, f := range compiled {
		addWithImports(req, f, seen)
	}
	return req, nil
}

// addWithImports appends f's imports, then f: protoc lists every file after
// the files it imports.
func addWithImports(req *pluginpb.CodeGeneratorRequest, f protoreflect.FileDescriptor, seen map[string]bool) {
	if seen[f.Path()] {
		return
	}
	seen[f.Path()] = true
	imports := f.Imports()
	for i := 0; i < imports.Len(); i++ {
		addWithImports(req, imports.Get(i).FileDescriptor, seen)
	}
	var fdp *descriptorpb.FileDescriptorProto
	if lf, ok := f.(linker.File); ok {
		fdp = protodesc.ToFileDescriptorProto(lf)
	} else {
		fdp = protodesc.ToFileDescriptorProto(f)
	}
	req.ProtoFile = append(req.ProtoFile, fdp)
}

// generate runs one plugin (a tool of this module) on req.
func generate(plugin string, req *pluginpb.CodeGeneratorRequest) ([]*pluginpb.CodeGeneratorResponse_File, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("go", "tool", plugin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", plugin, err, stderr.String())
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(out.Bytes(), &resp); err != nil {
		return nil, fmt.Errorf("%s: %w", plugin, err)
	}
	if resp.Error != nil {
		return nil, errors.New(plugin + ": " + resp.GetError())
	}
	return resp.File, nil
}
