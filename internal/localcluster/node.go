// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The node's fixed names and addresses. One node runs on a machine at a
// time (NodeDir's lock): kube-proxy's iptables chains and the bridge are the
// machine's own.
const (
	// NodeName is the node's name in the cluster.
	NodeName = "ebb-node"
	// NodeIP is the bridge's address on the host: the node's InternalIP, the
	// API server's address, the cluster DNS and the pods' gateway.
	NodeIP = "10.244.0.1"
	// PodCIDR holds the pods' addresses, on the bridge NodeBridge.
	PodCIDR = "10.244.0.0/24"
	// NodeBridge is the Linux bridge the pods are attached to.
	NodeBridge = "ebb0"
	// ServiceCIDR holds the Services' cluster IPs (the API server's
	// --service-cluster-ip-range).
	ServiceCIDR = "10.0.0.0/24"
	// KubernetesServiceIP is the cluster IP of the kubernetes Service.
	KubernetesServiceIP = "10.0.0.1"
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain = "cluster.local"
)

// NodeDir holds the node's state: containerd's root and state, the
// kubelet's root, the CNI configuration, the logs. It is fixed, so that a
// node left behind by a killed process is found and cleaned up by the next
// one.
const NodeDir = "/var/lib/ebb-node"

// runcRoot is runc's state folder for the node's containers.
const runcRoot = NodeDir + "/runc"

// NodeBinaries are the programs a node runs besides the control plane's
// (metrics-server included, as most clusters have it),
// as tests/tools/build.sh names them (with EBB_TOOLS_NODE=1).
var NodeBinaries = []string{"kube-scheduler", "kubelet", "kube-proxy", "coredns", "metrics-server"}

// NodeControllers are the kube-controller-manager controllers of a control
// plane with a node: those of ControllerManagerControllers and the garbage
// collector, and what pods, Services and namespaces need in a cluster.
const NodeControllers = ControllerManagerControllers + "," + GarbageCollectorController +
	",serviceaccount-controller,root-ca-certificate-publisher-controller,endpointslice-controller" +
	",namespace-controller,node-lifecycle-controller,pod-garbage-collector-controller,job-controller"

// NodeOptions says what a node starts with.
type NodeOptions struct {
	// PauseImage is the name of the pod sandbox image, and PauseImageTar the
	// OCI layout tarball that holds it (no registry is reachable: the image
	// is imported before the first pod).
	PauseImage, PauseImageTar string
	// Images are more OCI layout tarballs to import at start.
	Images []string
}

// HostBinaries are the machine's own programs a node needs, from Debian's
// packages containerd, runc, containernetworking-plugins, iptables and
// iproute2.
var HostBinaries = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip"}

// CNIBinDir holds the CNI plugins (Debian's containernetworking-plugins).
const CNIBinDir = "/usr/lib/cni"

// Node is a real single node on this machine: containerd with runc and the
// CNI bridge plugin, the kubelet, kube-proxy, kube-scheduler and CoreDNS,
// registered with the control plane that started it. Pods run for real.
type Node struct {
	// Name is NodeName and IP is NodeIP.
	Name, IP string
	// Dir is NodeDir.
	Dir string
	// ContainerdSocket is containerd's address, for ctr.
	ContainerdSocket string

	lock          *os.File
	children      []*child
	metricsServer LoopbackAPIService
	fwdMu         sync.Mutex
	fwds          []net.Listener
}

// acquireNode takes the machine's node lock (waiting for another node to
// stop), cleans up whatever a node killed before left behind, and makes the
// bridge the API server binds to.
func acquireNode(ctx context.Context) (_ *Node, retErr error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a node needs root: containerd, runc and the kubelet create namespaces, cgroups, mounts and a bridge")
	}
	for _, b := range HostBinaries {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("a node needs %s on PATH (Debian packages containerd, runc, "+
				"containernetworking-plugins, iptables, iproute2; tests/services.sh installs them): %w", b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(CNIBinDir, "bridge")); err != nil {
		return nil, fmt.Errorf("a node needs the CNI bridge plugin (Debian containernetworking-plugins): %w", err)
	}
	if err := os.MkdirAll(NodeDir, 0o755); err != nil {
		return nil, fmt.Errorf("node folder: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(NodeDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node lock: %w", err)
	}
	if err := flockContext(ctx, lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("wait for the node of another process to stop: %w", err)
	}
	n := &Node{Name: NodeName, IP: NodeIP, Dir: NodeDir, lock: lock,
		ContainerdSocket: filepath.Join(NodeDir, "containerd.sock")}
	defer func() {
		if retErr != nil {
			n.release()
		}
	}()
	if err := cleanupNode(); err != nil {
		return nil, err
	}
	if err := makeBridge(); err != nil {
		return nil, err
	}
	return n, nil
}

// flockContext takes an exclusive flock on f, waiting until ctx ends.
func flockContext(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cleanupNode kills the processes of an earlier node (containerd's shims and
// the containers outlive their parents), removes kube-proxy's rules,
// unmounts what is mounted under NodeDir and empties it, and removes the
// bridge.
func cleanupNode() error {
	// The containers first: their command lines do not name NodeDir, and
	// they outlive their shims.
	killContainers()
	pids, err := Processes(NodeDir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		waitGone(pid, 5*time.Second)
	}
	if err := unmountUnder(NodeDir); err != nil {
		return err
	}
	entries, err := os.ReadDir(NodeDir)
	if err != nil {
		return fmt.Errorf("node folder: %w", err)
	}
	for _, e := range entries {
		if e.Name() == ".lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(NodeDir, e.Name())); err != nil {
			return fmt.Errorf("clean up the node folder: %w", err)
		}
	}
	removeNetns()
	cleanupIPTables()
	if _, err := net.InterfaceByName(NodeBridge); err == nil {
		if out, err := exec.Command("ip", "link", "delete", NodeBridge).CombinedOutput(); err != nil {
			return fmt.Errorf("remove the bridge %s: %v: %s", NodeBridge, err, out)
		}
	}
	return nil
}

// killContainers kills and deletes the containers runc knows under
// runcRoot, in every containerd namespace.
func killContainers() {
	namespaces, err := os.ReadDir(runcRoot)
	if err != nil {
		return
	}
	for _, ns := range namespaces {
		root := filepath.Join(runcRoot, ns.Name())
		out, err := exec.Command("runc", "--root", root, "list", "--quiet").Output()
		if err != nil {
			continue
		}
		for _, id := range strings.Fields(string(out)) {
			_ = exec.Command("runc", "--root", root, "kill", "--all", id, "KILL").Run()
			_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
		}
	}
}

// removeNetns removes the pods' network namespaces that containerd's CRI
// plugin made (named cni-<uuid>): their veths go with them.
func removeNetns() {
	const dir = "/var/run/netns"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			p := filepath.Join(dir, e.Name())
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
			_ = os.Remove(p)
		}
	}
}

// cleanupIPTables removes the chains of kube-proxy's iptables mode and the
// CNI plugins' from the nat and filter tables: the ones whose names start with
// KUBE- or CNI-, after removing the jumps to them.
func cleanupIPTables() {
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			continue
		}
		var keep []string
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(line, ":KUBE-") || strings.HasPrefix(line, ":CNI-"):
				continue
			case strings.HasPrefix(line, "-A ") && (strings.Contains(line, " KUBE-") || strings.Contains(line, " CNI-") || strings.Contains(line, "-A KUBE-") || strings.Contains(line, "-A CNI-")):
				continue
			}
			keep = append(keep, line)
		}
		cmd := exec.Command("iptables-restore", "-T", table)
		cmd.Stdin = strings.NewReader(strings.Join(keep, "\n"))
		_ = cmd.Run()
	}
}

func waitGone(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountUnder unmounts every mount point under dir, deepest first
// (detaching those still busy).
func unmountUnder(dir string) error {
	for range 5 {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return fmt.Errorf("list mounts: %w", err)
		}
		var points []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			p := unescapeMount(f[4])
			if p == dir || strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
		if len(points) == 0 {
			return nil
		}
		// Deepest first: a longer path is never a parent of a shorter one.
		sortByLenDesc(points)
		for _, p := range points {
			if err := syscall.Unmount(p, 0); err != nil {
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
			}
		}
	}
	return fmt.Errorf("mounts under %s are left after 5 rounds of unmounting", dir)
}

func sortByLenDesc(s []string) {
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// makeBridge creates NodeBridge with NodeIP before the API server starts
// (it binds to that address; the CNI bridge plugin finds the bridge made),
// and lets bridged traffic through iptables, as kube-proxy needs.
func makeBridge() error {
	for _, args := range [][]string{
		{"link", "add", NodeBridge, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", NodeBridge},
		{"link", "set", NodeBridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	for path, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                        "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":         "1",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables":        "1",
		"/proc/sys/net/ipv4/conf/" + NodeBridge + "/rp_filter": "0",
	} {
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", path, err)
		}
	}
	return nil
}

// start starts containerd, imports the images, then CoreDNS, kube-proxy,
// kube-scheduler and the kubelet, and waits for the node to be Ready.
func (n *Node) start(ctx context.Context, cp *ControlPlane, o *NodeOptions, bins map[string]string) error {
	for _, d := range []string{"logs", "containerd/root", "containerd/state", "cni/conf", "cni/ipam", "kubelet", "pod-logs", "opt"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return fmt.Errorf("node folder: %w", err)
		}
	}
	if err := n.startContainerd(ctx, o.PauseImage); err != nil {
		return err
	}
	for _, tar := range append([]string{o.PauseImageTar}, o.Images...) {
		if tar == "" {
			continue
		}
		if err := n.ImportImage(ctx, tar); err != nil {
			return err
		}
	}
	if err := n.startCoreDNS(ctx, cp, bins["coredns"]); err != nil {
		return err
	}
	if err := n.startScheduler(ctx, cp, bins["kube-scheduler"]); err != nil {
		return err
	}
	if err := n.startKubelet(ctx, cp, bins["kubelet"]); err != nil {
		return err
	}
	// kube-proxy reads the node's addresses once, at start, and exits when
	// they change (a DaemonSet would restart it): start it once the kubelet
	// has registered the node with its address.
	if err := n.waitFor(ctx, cp.Client, "registered with its address", func(node *corev1.Node) (bool, string) {
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address == n.IP {
				return true, ""
			}
		}
		return false, fmt.Sprintf("addresses %v", node.Status.Addresses)
	}); err != nil {
		return err
	}
	if err := n.startKubeProxy(ctx, cp, bins["kube-proxy"]); err != nil {
		return err
	}
	if err := n.startMetricsServer(ctx, cp, bins["metrics-server"]); err != nil {
		return err
	}
	return n.waitFor(ctx, cp.Client, "Ready", func(node *corev1.Node) (bool, string) {
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, fmt.Sprintf("Ready=%s: %s", cond.Status, cond.Message)
			}
		}
		return false, "no Ready condition"
	})
}

func (n *Node) logPath(name string) string { return filepath.Join(n.Dir, "logs", name+".log") }

func (n *Node) run(name, bin string, args ...string) (*child, error) {
	c, err := startChild(name, bin, args, n.logPath(name))
	if err != nil {
		return nil, err
	}
	n.children = append(n.children, c)
	return c, nil
}

func (n *Node) startContainerd(ctx context.Context, pauseImage string) error {
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[ttrpc]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  enable_cdi = false
  # This machine's root lacks CAP_SYS_RESOURCE: an OOM score below
  # containerd's own (the sandbox's -998) cannot be set.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[8]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
`, filepath.Join(n.Dir, "containerd/root"), filepath.Join(n.Dir, "containerd/state"), n.ContainerdSocket,
		filepath.Join(n.Dir, "opt"), pauseImage, CNIBinDir, filepath.Join(n.Dir, "cni/conf"), runcRoot)
	confPath := filepath.Join(n.Dir, "containerd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("containerd configuration: %w", err)
	}
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "ebb",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, NodeBridge, filepath.Join(n.Dir, "cni/ipam"), PodCIDR, NodeIP)
	if err := os.WriteFile(filepath.Join(n.Dir, "cni/conf/10-ebb.conflist"), []byte(cni), 0o644); err != nil {
		return fmt.Errorf("CNI configuration: %w", err)
	}
	bin, _ := exec.LookPath("containerd")
	c, err := n.run("containerd", bin, "--config", confPath, "--log-level", "info")
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "serving", func(ctx context.Context) error {
		_, err := n.ctr(ctx, "version")
		return err
	})
}

// ctr runs containerd's ctr against this node's containerd, in the
// namespace of the kubelet's images.
func (n *Node) ctr(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--address", n.ContainerdSocket, "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// ImportImage imports an OCI layout tarball into the node's containerd,
// where the kubelet finds its images: a pod that names one of its images
// with imagePullPolicy IfNotPresent or Never runs it without a registry.
func (n *Node) ImportImage(ctx context.Context, tar string) error {
	if _, err := n.ctr(ctx, "images", "import", "--all-platforms", tar); err != nil {
		return fmt.Errorf("import %s: %w", tar, err)
	}
	return nil
}

// Images lists the names of the images the node holds.
func (n *Node) Images(ctx context.Context) ([]string, error) {
	out, err := n.ctr(ctx, "images", "list", "--quiet")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

func (n *Node) startCoreDNS(ctx context.Context, cp *ControlPlane, bin string) error {
	corefile := fmt.Sprintf(`%[1]s:53 in-addr.arpa:53 {
    bind %[2]s
    errors
    kubernetes %[1]s in-addr.arpa {
        kubeconfig %[3]s
        pods insecure
        ttl 1
    }
}
`, ClusterDomain, NodeIP, cp.Kubeconfig)
	path := filepath.Join(n.Dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o600); err != nil {
		return fmt.Errorf("CoreDNS configuration: %w", err)
	}
	c, err := n.run("coredns", bin, "-conf", path)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "answering", func(ctx context.Context) error {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", net.JoinHostPort(NodeIP, "53"))
		}}
		_, err := r.LookupHost(ctx, "kubernetes.default.svc."+ClusterDomain)
		return err
	})
}

func (n *Node) startKubeProxy(ctx context.Context, cp *ControlPlane, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	c, err := n.run("kube-proxy", bin,
		"--kubeconfig="+cp.Kubeconfig,
		"--proxy-mode=iptables",
		"--cluster-cidr="+PodCIDR,
		"--hostname-override="+NodeName,
		"--bind-address="+NodeIP,
		"--healthz-bind-address=127.0.0.1:"+strconv.Itoa(port),
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort),
		"--conntrack-max-per-core=0",
		"--iptables-localhost-nodeports=false",
		"--v=2",
	)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "healthy", httpHealthy(fmt.Sprintf("http://127.0.0.1:%d/livez", port)))
}

func (n *Node) startScheduler(ctx context.Context, cp *ControlPlane, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c, err := n.run("kube-scheduler", bin,
		"--kubeconfig="+cp.Kubeconfig,
		"--authentication-kubeconfig="+cp.Kubeconfig,
		"--authorization-kubeconfig="+cp.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(n.Dir, "kube-scheduler"),
		"--v=2",
	)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "healthy", httpsHealthy(fmt.Sprintf("https://127.0.0.1:%d/healthz", port)))
}

func (n *Node) startKubelet(ctx context.Context, cp *ControlPlane, bin string) error {
	healthPort, err := freePort()
	if err != nil {
		return err
	}
	// The kubelet trusts the control plane's users (metrics-server among
	// them) and the API server's own client certificate, which the API
	// server's CA signs.
	users, err := os.ReadFile(cp.ClientCAFile())
	if err != nil {
		return fmt.Errorf("kubelet client CAs: %w", err)
	}
	clientCAs := filepath.Join(n.Dir, "kubelet-client-ca.crt")
	if err := os.WriteFile(clientCAs, append(append(users, '\n'), cp.env.ControlPlane.GetAPIServer().SecureServing.CA...), 0o600); err != nil {
		return fmt.Errorf("kubelet client CAs: %w", err)
	}
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://%[1]s
address: %[2]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[6]s
authorization:
  mode: Webhook
clusterDNS: [%[2]s]
clusterDomain: %[4]s
resolvConf: ""
podLogsDir: %[5]s
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 2s
localStorageCapacityIsolation: false
`, n.ContainerdSocket, NodeIP, healthPort, ClusterDomain, filepath.Join(n.Dir, "pod-logs"), clientCAs)
	path := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("kubelet configuration: %w", err)
	}
	c, err := n.run("kubelet", bin,
		"--config="+path,
		"--kubeconfig="+cp.Kubeconfig,
		"--root-dir="+filepath.Join(n.Dir, "kubelet"),
		"--cert-dir="+filepath.Join(n.Dir, "kubelet/pki"),
		"--hostname-override="+NodeName,
		"--node-ip="+NodeIP,
		"--v=2",
	)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "healthy", httpHealthy(fmt.Sprintf("http://127.0.0.1:%d/healthz", healthPort)))
}

// MetricsServerAPIService is how the node's metrics-server is registered:
// metrics.k8s.io/v1beta1, through the Service kube-system/metrics-server.
func (n *Node) MetricsServerAPIService() LoopbackAPIService { return n.metricsServer }

// startMetricsServer runs metrics-server on loopback, reading the kubelet's
// resource metrics (authenticated by the admin's client certificate, which
// the kubelet trusts through the API server's client CA), and registers it
// as the metrics.k8s.io APIService, as a cluster's metrics-server add-on is.
func (n *Node) startMetricsServer(ctx context.Context, cp *ControlPlane, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c, err := n.run("metrics-server", bin,
		"--kubeconfig="+cp.Kubeconfig,
		"--authentication-kubeconfig="+cp.Kubeconfig,
		"--authorization-kubeconfig="+cp.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(n.Dir, "metrics-server"),
		// The kubelet serves with a certificate it made itself.
		"--kubelet-insecure-tls",
		"--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=10s",
		"--kubelet-request-timeout=5s",
		"--v=2",
	)
	if err != nil {
		return err
	}
	if err := c.waitFor(ctx, "healthy", httpsHealthy(fmt.Sprintf("https://127.0.0.1:%d/livez", port))); err != nil {
		return err
	}
	n.metricsServer = LoopbackAPIService{
		GroupVersion:          schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"},
		Namespace:             "kube-system",
		Service:               "metrics-server",
		Port:                  port,
		InsecureSkipTLSVerify: true,
	}
	return n.metricsServer.Register(ctx, cp.Client)
}

// httpHealthy is httpsHealthy for a plain-HTTP health endpoint.
func httpHealthy(url string) func(context.Context) error { return httpsHealthy(url) }

// waitFor polls the node until cond holds or ctx ends.
func (n *Node) waitFor(ctx context.Context, c client.Client, what string, cond func(*corev1.Node) (bool, string)) error {
	var last string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: n.Name}, &node); err != nil {
			last = err.Error()
		} else {
			var ok bool
			if ok, last = cond(&node); ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not %s: %w (%s); see %s", n.Name, what, ctx.Err(), last, n.logPath("kubelet"))
		case <-tick.C:
		}
	}
}

// Expose makes a service that listens on the host's loopback (addr, e.g.
// 127.0.0.1:5672) reachable from pods at NodeIP on the same port, by
// forwarding each connection: the peer still sees a loopback client, so
// RabbitMQ's guest user, which may log in from loopback only, works. It
// returns the address pods dial.
func (n *Node) Expose(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(NodeIP, port))
	if err != nil {
		return "", fmt.Errorf("expose %s to pods: %w", addr, err)
	}
	n.fwdMu.Lock()
	n.fwds = append(n.fwds, l)
	n.fwdMu.Unlock()
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go forward(in, addr)
		}
	}()
	return l.Addr().String(), nil
}

func forward(in net.Conn, addr string) {
	defer in.Close()
	out, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// stop stops the node's components (the kubelet first, so that it starts
// no more containers), then its containers. cleanup does the rest.
func (n *Node) stop() error {
	n.fwdMu.Lock()
	for _, l := range n.fwds {
		_ = l.Close()
	}
	n.fwds = nil
	n.fwdMu.Unlock()
	var errs []error
	for i := len(n.children) - 1; i >= 0; i-- {
		errs = append(errs, n.children[i].stop(10*time.Second))
	}
	n.children = nil
	killContainers()
	return errors.Join(errs...)
}

// cleanup cleans up after stop, as the next node would (the bridge
// included), and releases the machine's node lock.
func (n *Node) cleanup() error {
	err := cleanupNode()
	n.release()
	return err
}

func (n *Node) pids() []int {
	var pids []int
	for _, c := range n.children {
		pids = append(pids, c.pid())
	}
	return pids
}

func (n *Node) release() {
	if n.lock != nil {
		_ = syscall.Flock(int(n.lock.Fd()), syscall.LOCK_UN)
		_ = n.lock.Close()
		n.lock = nil
	}
}

// Logs is the last lines of each of the node's component logs.
func (n *Node) Logs(lines int) string {
	var b strings.Builder
	for _, name := range []string{"containerd", "kubelet", "kube-proxy", "kube-scheduler", "coredns", "metrics-server"} {
		tailFile(&b, n.logPath(name), name+".log", lines)
	}
	return b.String()
}
