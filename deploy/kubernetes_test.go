package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// measuredPeak is the daemon's peak resident memory with 20,000 incidents, the history size the
// page is built for (scripts/measure-rss.sh 20000: VmHWM 223060 kB). The limit must hold it.
const measuredPeak = 223060 * 1024

// manifests are the objects of deploy/kubernetes, each decoded strictly into its API type.
type manifests struct {
	deploy  *appsv1.Deployment
	pvc     *corev1.PersistentVolumeClaim
	secret  *corev1.Secret
	config  *corev1.ConfigMap
	service *corev1.Service
	policy  *networkingv1.NetworkPolicy
}

// decode reads one file: exactly one object, its kind known, no field the API type lacks, no key
// twice (sigs.k8s.io/yaml's strict mode), apiVersion and kind as the type's.
func decode(path string, m *manifests) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if regexp.MustCompile(`(?m)^---`).Match(b) {
		return fmt.Errorf("%s: one object per file", path)
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(b, &tm); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		obj = fresh(&m.deploy)
	case "v1 PersistentVolumeClaim":
		obj = fresh(&m.pvc)
	case "v1 Secret":
		obj = fresh(&m.secret)
	case "v1 ConfigMap":
		obj = fresh(&m.config)
	case "v1 Service":
		obj = fresh(&m.service)
	case "networking.k8s.io/v1 NetworkPolicy":
		obj = fresh(&m.policy)
	default:
		return fmt.Errorf("%s: %q %q is not a kind this test knows: add it here with its checks", path, tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	var m manifests
	for _, f := range files {
		if err := decode(f, &m); err != nil {
			t.Fatal(err)
		}
	}
	if m.deploy == nil || m.pvc == nil || m.secret == nil || m.config == nil || m.service == nil || m.policy == nil {
		t.Fatalf("missing a manifest: %+v", m)
	}
	return m
}

// Strict decoding refuses what kubectl would ignore or reject; the test's own decoder is checked
// against the mistakes it is there to catch.
func TestManifestDecodeIsStrict(t *testing.T) {
	good, err := os.ReadFile("kubernetes/pvc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, yaml, want string }{
		{"misspelt field", strings.Replace(string(good), "accessModes", "accesModes", 1), "unknown field"},
		{"key twice", string(good) + "metadata:\n  name: again\n", "already set"},
		{"two objects", string(good) + "---\n" + string(good), "one object per file"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n", "not a kind this test knows"},
		{"wrong type", strings.Replace(string(good), "storage: 2Gi", "storage: [2]", 1), "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			err := decode(path, &manifests{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decode: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestDeploymentOneWriter(t *testing.T) {
	d := loadManifests(t).deploy
	if r := d.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("replicas %v, want exactly 1: the state file's lock allows one writer", ptrString(r))
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("strategy %+v, want Recreate: a rolling update would start a second writer", d.Spec.Strategy)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %v: %v", d.Spec.Selector, err)
	}
	if !matches(d.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
}

func nocbotContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	return d.Spec.Template.Spec.Containers[0]
}

func TestDeploymentProbes(t *testing.T) {
	d := loadManifests(t).deploy
	c := nocbotContainer(t, d)
	port := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort
			}
		}
		return 0
	}
	tests := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
		{"startup", c.StartupProbe, "/healthz"},
	}
	for _, tt := range tests {
		if tt.probe == nil || tt.probe.HTTPGet == nil {
			t.Errorf("%s probe: none, want GET %s on 8080", tt.name, tt.path)
			continue
		}
		if g := tt.probe.HTTPGet; g.Path != tt.path || port(g.Port) != 8080 {
			t.Errorf("%s probe: GET %s on %d, want %s on 8080", tt.name, g.Path, port(g.Port), tt.path)
		}
	}
	// The config the container reads listens where the probes knock.
	if !strings.Contains(loadManifests(t).config.Data["nocbot.toml"], `listen = "0.0.0.0:8080"`) {
		t.Error("the ConfigMap's [web] listen is not 0.0.0.0:8080")
	}
}

func TestDeploymentSecurityContext(t *testing.T) {
	d := loadManifests(t).deploy
	pod := d.Spec.Template.Spec
	c := nocbotContainer(t, d)
	sc := c.SecurityContext
	if sc == nil || pod.SecurityContext == nil {
		t.Fatal("no securityContext")
	}
	psc := pod.SecurityContext
	tests := []struct {
		what string
		ok   bool
	}{
		{"pod runAsNonRoot", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot},
		{"pod runAsUser non-root", psc.RunAsUser == nil || *psc.RunAsUser != 0},
		{"pod seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"container runAsNonRoot", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"allowPrivilegeEscalation false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"not privileged", sc.Privileged == nil || !*sc.Privileged},
		{"capabilities drop ALL, add none", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0},
		{"no service account token", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken},
		{"no host namespaces", !pod.HostNetwork && !pod.HostPID && !pod.HostIPC},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("securityContext: want %s", tt.what)
		}
	}
	// With the root file system read-only, every path nocbot writes is a volume.
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = !m.ReadOnly
	}
	for _, p := range []string{"/var/lib/nocbot", "/tmp"} {
		if !mounts[p] {
			t.Errorf("%s is not a writable volume", p)
		}
	}
}

func TestDeploymentResources(t *testing.T) {
	c := nocbotContainer(t, loadManifests(t).deploy)
	req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
	if req.IsZero() || lim.IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Fatalf("requests %v limits %v: want memory requests and limits and a CPU request", c.Resources.Requests, c.Resources.Limits)
	}
	if req.Cmp(*lim) > 0 {
		t.Errorf("memory request %s above the limit %s", req, lim)
	}
	if lim.Value() < measuredPeak {
		t.Errorf("memory limit %s below the measured peak of %d bytes", lim, measuredPeak)
	}
	var gomemlimit string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			gomemlimit = e.Value
		}
	}
	// GOMEMLIMIT's suffixes are KiB, MiB, GiB: the same as Kubernetes' Ki, Mi, Gi.
	soft, err := resource.ParseQuantity(strings.TrimSuffix(gomemlimit, "B"))
	if err != nil {
		t.Fatalf("GOMEMLIMIT %q: %v", gomemlimit, err)
	}
	if soft.Cmp(*lim) >= 0 || soft.Value() < measuredPeak*9/10 {
		t.Errorf("GOMEMLIMIT %s: want below the limit %s and near the measured peak", gomemlimit, lim)
	}
}

// The pieces refer to each other by the names they have: the volumes to the PVC, ConfigMap and
// Secret, the config to the secret files the Secret provides, the Service and the NetworkPolicy to
// the pod's labels.
func TestManifestsFitTogether(t *testing.T) {
	m := loadManifests(t)
	pod := m.deploy.Spec.Template.Spec
	c := nocbotContainer(t, m.deploy)
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountOf := func(path string) (corev1.VolumeMount, corev1.Volume) {
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == path {
				return vm, volumes[vm.Name]
			}
		}
		t.Fatalf("nothing mounted at %s", path)
		return corev1.VolumeMount{}, corev1.Volume{}
	}

	_, state := mountOf("/var/lib/nocbot")
	if state.PersistentVolumeClaim == nil || state.PersistentVolumeClaim.ClaimName != m.pvc.Name {
		t.Errorf("/var/lib/nocbot is %+v, want the claim %s", state.VolumeSource, m.pvc.Name)
	}
	if !slices.Equal(m.pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) || m.pvc.Spec.Resources.Requests.Storage().IsZero() {
		t.Errorf("claim %s: access %v, size %v: want ReadWriteOnce and a size", m.pvc.Name, m.pvc.Spec.AccessModes, m.pvc.Spec.Resources.Requests.Storage())
	}

	i := slices.Index(c.Args, "-config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %v: no -config", c.Args)
	}
	cm, cfgVol := mountOf(c.Args[i+1])
	if cfgVol.ConfigMap == nil || cfgVol.ConfigMap.Name != m.config.Name || m.config.Data[cm.SubPath] == "" {
		t.Errorf("the -config file %s is not key %q of ConfigMap %s", c.Args[i+1], cm.SubPath, m.config.Name)
	}

	secretKeys := map[string]bool{}
	for k := range m.secret.StringData {
		secretKeys[k] = true
	}
	for k := range m.secret.Data {
		secretKeys[k] = true
	}
	sm, secVol := mountOf("/etc/nocbot/secrets")
	if secVol.Secret == nil || secVol.Secret.SecretName != m.secret.Name {
		t.Fatalf("/etc/nocbot/secrets is %+v, want Secret %s", secVol.VolumeSource, m.secret.Name)
	}
	if !sm.ReadOnly || secVol.Secret.DefaultMode == nil || *secVol.Secret.DefaultMode&0o007 != 0 {
		t.Errorf("secrets mounted read-write or readable by others: %+v", secVol.Secret)
	}
	files := map[string]bool{}
	for _, it := range secVol.Secret.Items {
		if !secretKeys[it.Key] {
			t.Errorf("the secret volume names key %s, which Secret %s lacks", it.Key, m.secret.Name)
		}
		files[sm.MountPath+"/"+it.Path] = true
	}
	for _, e := range c.Env {
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && (r.SecretKeyRef.Name != m.secret.Name || !secretKeys[r.SecretKeyRef.Key]) {
			t.Errorf("env %s takes %s/%s, which does not exist", e.Name, r.SecretKeyRef.Name, r.SecretKeyRef.Key)
		}
	}
	for _, path := range regexp.MustCompile(`"(/etc/nocbot/secrets/[^"]+)"`).FindAllStringSubmatch(m.config.Data["nocbot.toml"], -1) {
		if !files[path[1]] {
			t.Errorf("the config reads %s, which the secret volume does not provide", path[1])
		}
	}

	podLabels := m.deploy.Spec.Template.Labels
	if !matches(&metav1.LabelSelector{MatchLabels: m.service.Spec.Selector}, podLabels) {
		t.Errorf("Service selects %v, not the pod (%v)", m.service.Spec.Selector, podLabels)
	}
	if len(m.service.Spec.Ports) != 1 || m.service.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v, want the container's http port", m.service.Spec.Ports)
	}
	if !matches(&m.policy.Spec.PodSelector, podLabels) {
		t.Errorf("NetworkPolicy selects %v, not the pod (%v)", m.policy.Spec.PodSelector, podLabels)
	}
}

func TestNetworkPolicy(t *testing.T) {
	p := loadManifests(t).policy
	if !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Fatalf("policyTypes %v: want Ingress and Egress", p.Spec.PolicyTypes)
	}
	ports := func(rules [][]networkingv1.NetworkPolicyPort) map[string]bool {
		out := map[string]bool{}
		for _, r := range rules {
			for _, pp := range r {
				proto := corev1.ProtocolTCP
				if pp.Protocol != nil {
					proto = *pp.Protocol
				}
				out[fmt.Sprintf("%s/%s", proto, pp.Port)] = true
			}
		}
		return out
	}
	var in, out [][]networkingv1.NetworkPolicyPort
	for _, r := range p.Spec.Ingress {
		in = append(in, r.Ports)
	}
	for _, r := range p.Spec.Egress {
		out = append(out, r.Ports)
		if len(r.Ports) == 0 {
			t.Errorf("an egress rule without ports allows everything: %+v", r)
		}
	}
	got := ports(in)
	if len(got) != 1 || !got["TCP/8080"] {
		t.Errorf("ingress %v, want TCP/8080 only", got)
	}
	egress := ports(out)
	for _, want := range []string{"UDP/53", "TCP/53", "TCP/443", "TCP/6697", "TCP/5671"} {
		if !egress[want] {
			t.Errorf("egress lacks %s (DNS, HTTPS, IRC over TLS, AMQPS): %v", want, egress)
		}
	}
}

// The ConfigMap carries deploy/config/production.toml verbatim.
func TestConfigMapIsProductionConfig(t *testing.T) {
	prod, err := os.ReadFile("config/production.toml")
	if err != nil {
		t.Fatal(err)
	}
	const path = "kubernetes/configmap.yaml"
	if *update {
		cur, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		head, _, ok := strings.Cut(string(cur), "  nocbot.toml: |\n")
		if !ok {
			t.Fatalf("%s has no nocbot.toml key to rewrite", path)
		}
		var b strings.Builder
		b.WriteString(head + "  nocbot.toml: |\n")
		for _, line := range strings.SplitAfter(string(prod), "\n") {
			if strings.TrimSpace(line) != "" {
				b.WriteString("    ")
			}
			b.WriteString(line)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := loadManifests(t).config.Data["nocbot.toml"]; got != string(prod) {
		t.Errorf("%s's nocbot.toml differs from config/production.toml (go test ./deploy -run ConfigMap -update)", path)
	}
}

// fresh points *p at a new zero T and returns it, for decoding into.
func fresh[T any](p **T) *T {
	*p = new(T)
	return *p
}

// matches reports whether a non-empty selector selects the labels.
func matches(sel *metav1.LabelSelector, lbls map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(lbls))
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
