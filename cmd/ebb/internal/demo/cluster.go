// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/cmd/ebb/internal/demo/work"
	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/internal/ociimage"
)

// ClusterSources are the sources --cluster runs worker pods for.
var ClusterSources = []string{"kafka", "rabbitmq"}

// workerImage is the worker pods' image, built here and imported into the
// node (never pulled: ebb.local is not a registry).
const workerImage = "ebb.local/demo-worker:dev"

// workerPackage is the worker pods' main package.
const workerPackage = "./cmd/ebb/internal/demo/worker"

// workerPort serves the worker's readiness endpoint.
const workerPort = 8080

// hostPackages are the Debian packages of the machine's programs a node
// runs, by program (localcluster.HostBinaries, the CNI plugins).
var hostPackages = map[string]string{
	"containerd":              "containerd",
	"containerd-shim-runc-v2": "containerd",
	"ctr":                     "containerd",
	"runc":                    "runc",
	"iptables":                "iptables",
	"ip":                      "iproute2",
}

// checkClusterHost says what this machine lacks for --cluster: root, and
// the Debian packages of containerd, runc, the CNI plugins and iptables.
// lookPath and stat are exec.LookPath and os.Stat but for tests.
func checkClusterHost(euid int, lookPath func(string) (string, error), stat func(string) (os.FileInfo, error)) error {
	if euid != 0 {
		return errors.New("--cluster needs root: it runs containerd and the kubelet, which make network " +
			"namespaces, mounts and iptables rules (run it with sudo, or leave out --cluster for the demo without pods)")
	}
	var pkgs, progs []string
	for _, b := range localcluster.HostBinaries {
		if _, err := lookPath(b); err != nil {
			progs = append(progs, b)
			pkg := hostPackages[b]
			if pkg == "" {
				pkg = b
			}
			if !slices.Contains(pkgs, pkg) {
				pkgs = append(pkgs, pkg)
			}
		}
	}
	if _, err := stat(filepath.Join(localcluster.CNIBinDir, "bridge")); err != nil {
		progs = append(progs, filepath.Join(localcluster.CNIBinDir, "bridge"))
		pkgs = append(pkgs, "containernetworking-plugins")
	}
	if len(pkgs) > 0 {
		return fmt.Errorf("--cluster needs the Debian packages %s (missing: %s); `bash tests/services.sh` installs them",
			strings.Join(pkgs, ", "), strings.Join(progs, ", "))
	}
	return nil
}

// images are the layout tarballs of the node's images.
type images struct {
	dir                 string
	pauseTar, workerTar string
	workerRef           string
}

// buildImages builds the pause and worker images into a new temporary
// folder (removed by remove) and shows each build on out.
func buildImages(ctx context.Context, out io.Writer) (_ *images, retErr error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("build the images: %w", err)
	}
	dir, err := os.MkdirTemp("", "ebb-demo-images-")
	if err != nil {
		return nil, fmt.Errorf("build the images: %w", err)
	}
	im := &images{dir: dir}
	defer func() {
		if retErr != nil {
			im.remove()
		}
	}()
	fmt.Fprintln(out, "Building the images (pause, worker) without Docker: go build, then an OCI layout tar;\n"+
		"the first time about a minute on 2 cores, then the Go build cache makes it a few seconds.")
	for _, b := range []struct {
		spec ociimage.Spec
		tar  *string
	}{
		{ociimage.PauseSpec(root), &im.pauseTar},
		{ociimage.Spec{Dir: root, Package: workerPackage, Ref: workerImage, Title: "ebb-demo-worker",
			Description: "The worker pods of `ebb demo --cluster`: consume the demo's source at a fixed rate."}, &im.workerTar},
	} {
		start := time.Now()
		img, err := ociimage.Build(ctx, b.spec)
		if err != nil {
			return nil, fmt.Errorf("build the image %s: %w", b.spec.Ref, err)
		}
		path := filepath.Join(dir, filepath.Base(b.spec.Package)+".tar")
		if err := ociimage.WriteLayout(path, img); err != nil {
			return nil, fmt.Errorf("write the image %s: %w", b.spec.Ref, err)
		}
		*b.tar = path
		fmt.Fprintf(out, "  %-24s built in %s\n", img.Ref, time.Since(start).Round(100*time.Millisecond))
	}
	if im.workerRef, err = ociimage.NormalizeRef(workerImage); err != nil {
		return nil, err
	}
	return im, nil
}

func (im *images) remove() { _ = os.RemoveAll(im.dir) }

// podSource is a source whose work pods can consume: it says how the
// worker reaches it. expose makes a loopback address of the host
// reachable from pods (localcluster.Node.Expose).
type podSource interface {
	source
	// podWorker is the worker's arguments (but --source and --rate) and the
	// Secret data its environment comes from (nil: none), once pods
	// consume in the demo's place.
	podWorker(expose func(addr string) (string, error)) (args []string, secret map[string]string, err error)
}

var (
	_ podSource = (*kafkaSource)(nil)
	_ podSource = (*rabbitSource)(nil)
)

// workerSecret holds the worker's environment: the source's URL with its
// credentials stays out of the pod spec.
const workerSecret = "worker-source"

// workerPod is the worker pods' spec for src, and the objects it needs.
func workerPod(src source, o Options, image string, expose func(string) (string, error)) (corev1.PodSpec, []client.Object, error) {
	ps, ok := src.(podSource)
	if !ok {
		return corev1.PodSpec{}, nil, fmt.Errorf("--source %s: not supported with --cluster yet (%s are)", o.Source, strings.Join(ClusterSources, ", "))
	}
	args, secret, err := ps.podWorker(expose)
	if err != nil {
		return corev1.PodSpec{}, nil, err
	}
	args = append([]string{"--source", o.Source, "--rate", fmt.Sprint(o.Rate), "--listen", fmt.Sprintf(":%d", workerPort)}, args...)
	c := corev1.Container{
		Name:            workerName,
		Image:           image,
		ImagePullPolicy: corev1.PullNever,
		Args:            args,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(workerPort)}},
			PeriodSeconds: 1,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	var objs []client.Object
	if secret != nil {
		objs = append(objs, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: workerSecret},
			StringData: secret,
		})
		for _, k := range slices.Sorted(maps.Keys(secret)) {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: workerSecret}, Key: k},
			}})
		}
	}
	return corev1.PodSpec{
		Containers: []corev1.Container{c},
		// The worker leaves at SIGTERM at once; a short grace lets the
		// pods go within the demo's time.
		TerminationGracePeriodSeconds: ptr.To[int64](5),
	}, objs, nil
}

// exposeURL rewrites a URL whose host is the host's loopback to the
// address pods reach it at.
func exposeURL(raw string, defaultPort string, expose func(string) (string, error)) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("the source's URL does not parse") // it may hold a password
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = defaultPort
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return raw, nil // pods reach it as the host does
	}
	addr, err := expose(net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return "", err
	}
	u.Host = addr
	return u.String(), nil
}

func (s *kafkaSource) podWorker(expose func(string) (string, error)) ([]string, map[string]string, error) {
	addr, err := expose(s.cluster.ListenAddrs()[0])
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	s.remote = true
	s.mu.Unlock()
	return []string{"--broker", addr, "--topic", s.topic, "--group", s.group}, nil, nil
}

func (s *rabbitSource) podWorker(expose func(string) (string, error)) ([]string, map[string]string, error) {
	u, err := exposeURL(s.url, "5672", expose)
	if err != nil {
		return nil, nil, fmt.Errorf("expose RabbitMQ to the pods: %w", err)
	}
	return []string{"--queue", s.queue}, map[string]string{work.RabbitMQURLEnv: u}, nil
}
