// Command validate checks rendered Kubernetes manifests (the output of `helm template`) strictly
// against the API types of the Kubernetes version pinned in go.mod (k8s.io/api), KEDA's
// ScaledObject types (github.com/kedacore/keda/v2/apis/keda/v1alpha1) and the Prometheus
// Operator's ServiceMonitor types.
//
// Each YAML document is decoded into its typed object, chosen by apiVersion and kind; a kind
// outside the table, an unknown or duplicate field, a field of the wrong type or case, or an
// invalid quantity is an error. Then the checks the API server would make and the decoding cannot
// (names, labels, selectors matching their pods, ports and volumes referred to, requests within
// limits, KEDA's own trigger and replica checks) and references between the rendered objects.
//
// Usage: validate [-external-configmaps] [FILE...] (no file or "-": standard input);
// -external-configmaps: ConfigMaps mounted by the pods may be ones the chart does not render. Prints one line per object and
// exits 1 if any object is invalid, each error naming the template, the object and the field.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kinds: the objects a manifest may hold, by "apiVersion/kind".
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                        func() any { return &batchv1.CronJob{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"keda.sh/v1alpha1/ScaledObject":           func() any { return &kedav1alpha1.ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication":  func() any { return &kedav1alpha1.TriggerAuthentication{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

type object struct {
	source string // the template, from helm's "# Source:" comment
	kind   string
	name   string
	value  any
}

type report struct {
	errors []string
}

func (r *report) add(o *object, format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf("%s: %s/%s: %s", o.source, o.kind, o.name, fmt.Sprintf(format, args...)))
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (.+)$`)

// decode reads one document strictly into its typed object.
func decode(doc []byte, source string) (*object, error) {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %v", err)
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &meta); err != nil {
		return nil, fmt.Errorf("not an object: %v", err)
	}
	o := &object{source: source, kind: meta.Kind, name: meta.Metadata.Name}
	if meta.APIVersion == "" || meta.Kind == "" {
		return o, errors.New("apiVersion and kind are required")
	}
	newObject, ok := kinds[meta.APIVersion+"/"+meta.Kind]
	if !ok {
		known := make([]string, 0, len(kinds))
		for k := range kinds {
			known = append(known, k)
		}
		sort.Strings(known)
		return o, fmt.Errorf("unknown apiVersion/kind %s/%s (known: %s)", meta.APIVersion, meta.Kind, strings.Join(known, ", "))
	}
	o.value = newObject()
	strict, err := kjson.UnmarshalStrict(data, o.value, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return o, fmt.Errorf("does not decode into %s %s: %v", meta.APIVersion, meta.Kind, err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return o, fmt.Errorf("strict decoding into %s %s: %s", meta.APIVersion, meta.Kind, strings.Join(msgs, "; "))
	}
	return o, nil
}

func checkMeta(r *report, o *object, m *metav1.ObjectMeta) {
	if m.Name == "" {
		r.add(o, "metadata.name is required")
	}
	for _, msg := range validation.IsDNS1123Subdomain(m.Name) {
		r.add(o, "metadata.name %q: %s", m.Name, msg)
	}
	checkLabels(r, o, "metadata.labels", m.Labels)
	for k := range m.Annotations {
		for _, msg := range validation.IsQualifiedName(k) {
			r.add(o, "metadata.annotations key %q: %s", k, msg)
		}
	}
}

func checkLabels(r *report, o *object, where string, l map[string]string) {
	for k, v := range l {
		for _, msg := range validation.IsQualifiedName(k) {
			r.add(o, "%s key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			r.add(o, "%s[%q] = %q: %s", where, k, v, msg)
		}
	}
}

func checkSelector(r *report, o *object, where string, sel *metav1.LabelSelector, podLabels map[string]string) labels.Selector {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		r.add(o, "%s is required and must not be empty", where)
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		r.add(o, "%s: %v", where, err)
		return nil
	}
	if podLabels != nil && !s.Matches(labels.Set(podLabels)) {
		r.add(o, "%s does not match the pod template's labels %v", where, podLabels)
	}
	return s
}

// checkPod: what the API server checks of a pod template and the decoding cannot.
func checkPod(r *report, o *object, where string, spec *corev1.PodSpec) {
	if len(spec.Containers) == 0 {
		r.add(o, "%s.containers: at least one container is required", where)
	}
	volumes := map[string]bool{}
	for i, v := range spec.Volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			r.add(o, "%s.volumes[%d].name %q: %s", where, i, v.Name, msg)
		}
		if volumes[v.Name] {
			r.add(o, "%s.volumes[%d].name %q: duplicate", where, i, v.Name)
		}
		volumes[v.Name] = true
		if v.ConfigMap != nil && v.ConfigMap.Name == "" {
			r.add(o, "%s.volumes[%d].configMap.name is required", where, i)
		}
	}
	for i := range spec.Containers {
		checkContainer(r, o, fmt.Sprintf("%s.containers[%d]", where, i), &spec.Containers[i], volumes)
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			r.add(o, "%s.imagePullSecrets[%d].name is required", where, i)
		}
	}
}

func checkContainer(r *report, o *object, where string, c *corev1.Container, volumes map[string]bool) {
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		r.add(o, "%s.name %q: %s", where, c.Name, msg)
	}
	if c.Image == "" {
		r.add(o, "%s.image is required", where)
	}
	ports := map[string]bool{}
	numbers := map[int32]bool{}
	for i, p := range c.Ports {
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				r.add(o, "%s.ports[%d].name %q: %s", where, i, p.Name, msg)
			}
			ports[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
			r.add(o, "%s.ports[%d].containerPort %d: %s", where, i, p.ContainerPort, msg)
		}
		numbers[p.ContainerPort] = true
	}
	for i, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			r.add(o, "%s.env[%d].name %q: %s", where, i, e.Name, msg)
		}
		if e.ValueFrom != nil {
			if e.Value != "" {
				r.add(o, "%s.env[%d] (%s): value and valueFrom are exclusive", where, i, e.Name)
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil && (ref.Name == "" || ref.Key == "") {
				r.add(o, "%s.env[%d] (%s): secretKeyRef needs a name and a key", where, i, e.Name)
			}
		}
	}
	for i, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			r.add(o, "%s.volumeMounts[%d]: no volume named %q", where, i, m.Name)
		}
		if !strings.HasPrefix(m.MountPath, "/") {
			r.add(o, "%s.volumeMounts[%d].mountPath %q: must be absolute", where, i, m.MountPath)
		}
	}
	for name, p := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.HTTPGet != nil {
			checkPort(r, o, fmt.Sprintf("%s.%s.httpGet.port", where, name), p.HTTPGet.Port, ports, numbers)
			if !strings.HasPrefix(p.HTTPGet.Path, "/") {
				r.add(o, "%s.%s.httpGet.path %q: must start with /", where, name, p.HTTPGet.Path)
			}
		}
		if p.PeriodSeconds < 0 || p.TimeoutSeconds < 0 || p.FailureThreshold < 0 {
			r.add(o, "%s.%s: negative period, timeout or threshold", where, name)
		}
	}
	for res, limit := range c.Resources.Limits {
		if req, ok := c.Resources.Requests[res]; ok && req.Cmp(limit) > 0 {
			r.add(o, "%s.resources: request of %s (%s) above its limit (%s)", where, res, req.String(), limit.String())
		}
	}
}

func checkPort(r *report, o *object, where string, port intstr.IntOrString, names map[string]bool, numbers map[int32]bool) {
	if port.Type == intstr.String {
		if !names[port.StrVal] {
			r.add(o, "%s: no container port named %q", where, port.StrVal)
		}
	} else if !numbers[port.IntVal] {
		r.add(o, "%s: %d is no container port", where, port.IntVal)
	}
}

var externalConfigMaps bool

// kafkaMetadata: the trigger metadata keys KEDA's kafka scaler reads (pkg/scalers/kafka_scaler.go of
// the pinned KEDA module: the fields read from triggerMetadata; "resolvedEnv" ones also as <key>FromEnv).
// A trigger's metadata is a plain map in the CRD: a misspelt key would be silently ignored.
var kafkaMetadata = map[string]bool{
	"bootstrapServers": true, "bootstrapServersFromEnv": true, "consumerGroup": true, "consumerGroupFromEnv": true,
	"topic": true, "topicFromEnv": true, "partitionLimitation": true, "lagThreshold": true,
	"activationLagThreshold": true, "offsetResetPolicy": true, "allowIdleConsumers": true,
	"excludePersistentLag": true, "scaleToZeroOnInvalidOffset": true, "limitToPartitionsWithLag": true,
	"ensureEvenDistributionOfPartitions": true, "fullMetadata": true, "version": true, "tls": true,
	"unsafeSsl": true, "sasl": true, "saslTokenProvider": true, "awsRegion": true,
}

// checkIntOrPercent: an int-or-string of a budget or a rolling update is a count or "N%".
func checkIntOrPercent(r *report, o *object, where string, v *intstr.IntOrString) {
	if v == nil || v.Type == intstr.Int {
		if v != nil && v.IntVal < 0 {
			r.add(o, "%s %d: must not be negative", where, v.IntVal)
		}
		return
	}
	if !percent.MatchString(v.StrVal) {
		r.add(o, "%s %q: a count or a percentage (\"25%%\")", where, v.StrVal)
	}
}

var percent = regexp.MustCompile(`^[0-9]+%$`)

type deployment struct {
	obj       *object
	podLabels map[string]string
	ports     map[string]bool
}

func main() {
	flag.BoolVar(&externalConfigMaps, "external-configmaps", false, "ConfigMaps mounted by pods may exist outside the manifests")
	flag.Parse()
	inputs := flag.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	r := &report{}
	var objects []*object
	for _, in := range inputs {
		var reader io.Reader = os.Stdin
		if in != "-" {
			f, err := os.Open(in)
			if err != nil {
				fmt.Fprintln(os.Stderr, "validate:", err)
				os.Exit(2)
			}
			defer f.Close()
			reader = f
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(reader))
		for n := 1; ; n++ {
			doc, err := docs.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "validate: reading:", err)
				os.Exit(2)
			}
			source := fmt.Sprintf("%s document %d", in, n)
			if m := sourceLine.FindSubmatch(doc); m != nil {
				source = string(m[1])
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			o, err := decode(doc, source)
			if err != nil {
				if o == nil {
					o = &object{source: source, kind: "?", name: "?"}
				}
				r.add(o, "%v", err)
				continue
			}
			objects = append(objects, o)
		}
	}
	decoded := len(r.errors) == 0
	check(r, objects, decoded)
	for _, o := range objects {
		fmt.Printf("ok\t%s\t%s/%s\n", o.source, o.kind, o.name)
	}
	fmt.Printf("validated %d objects against %s\n", len(objects), versions())
	if len(r.errors) > 0 {
		for _, e := range r.errors {
			fmt.Fprintln(os.Stderr, "invalid:", e)
		}
		fmt.Fprintf(os.Stderr, "%d error(s)\n", len(r.errors))
		os.Exit(1)
	}
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// versions: the pinned API modules this binary was built with.
func versions() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown versions"
	}
	want := []string{"k8s.io/api", "github.com/kedacore/keda/v2", "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"}
	var parts []string
	for _, w := range want {
		for _, d := range info.Deps {
			if d.Path == w {
				parts = append(parts, d.Path+" "+d.Version)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// check: each object on its own, then the references between them.
// References are checked only when every object decoded (else a missing one is no news).
func check(r *report, objects []*object, references bool) {
	seen := map[string]*object{}
	deployments := map[string]*deployment{}
	for _, o := range objects {
		key := o.kind + "/" + o.name
		if prev, dup := seen[key]; dup {
			r.add(o, "defined twice (also in %s)", prev.source)
		}
		seen[key] = o
		switch v := o.value.(type) {
		case *corev1.ConfigMap:
			checkMeta(r, o, &v.ObjectMeta)
			for k := range v.Data {
				for _, msg := range validation.IsConfigMapKey(k) {
					r.add(o, "data key %q: %s", k, msg)
				}
			}
		case *corev1.Secret:
			checkMeta(r, o, &v.ObjectMeta)
		case *corev1.ServiceAccount:
			checkMeta(r, o, &v.ObjectMeta)
		case *corev1.Service:
			checkMeta(r, o, &v.ObjectMeta)
			if len(v.Spec.Ports) == 0 {
				r.add(o, "spec.ports: at least one port is required")
			}
			for i, p := range v.Spec.Ports {
				for _, msg := range validation.IsValidPortNum(int(p.Port)) {
					r.add(o, "spec.ports[%d].port %d: %s", i, p.Port, msg)
				}
				if p.Name != "" {
					for _, msg := range validation.IsDNS1123Label(p.Name) {
						r.add(o, "spec.ports[%d].name %q: %s", i, p.Name, msg)
					}
				}
			}
		case *appsv1.Deployment:
			checkMeta(r, o, &v.ObjectMeta)
			tmpl := &v.Spec.Template
			checkLabels(r, o, "spec.template.metadata.labels", tmpl.Labels)
			checkSelector(r, o, "spec.selector", v.Spec.Selector, tmpl.Labels)
			checkPod(r, o, "spec.template.spec", &tmpl.Spec)
			if tmpl.Spec.RestartPolicy != "" && tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways {
				r.add(o, "spec.template.spec.restartPolicy %q: a Deployment's pods restart Always", tmpl.Spec.RestartPolicy)
			}
			if s := v.Spec.Strategy; s.Type == appsv1.RecreateDeploymentStrategyType && s.RollingUpdate != nil {
				r.add(o, "spec.strategy.rollingUpdate: not allowed with type Recreate")
			}
			if ru := v.Spec.Strategy.RollingUpdate; ru != nil {
				checkIntOrPercent(r, o, "spec.strategy.rollingUpdate.maxSurge", ru.MaxSurge)
				checkIntOrPercent(r, o, "spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable)
			}
			d := &deployment{obj: o, podLabels: tmpl.Labels, ports: map[string]bool{}}
			for _, c := range tmpl.Spec.Containers {
				for _, p := range c.Ports {
					d.ports[p.Name] = true
					d.ports[strconv.Itoa(int(p.ContainerPort))] = true
				}
			}
			deployments[o.name] = d
		case *batchv1.Job:
			checkMeta(r, o, &v.ObjectMeta)
			tmpl := &v.Spec.Template
			checkLabels(r, o, "spec.template.metadata.labels", tmpl.Labels)
			checkPod(r, o, "spec.template.spec", &tmpl.Spec)
			if p := tmpl.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
				r.add(o, "spec.template.spec.restartPolicy %q: a Job's pods restart Never or OnFailure", p)
			}
		case *batchv1.CronJob:
			checkMeta(r, o, &v.ObjectMeta)
			if len(strings.Fields(v.Spec.Schedule)) != 5 {
				r.add(o, "spec.schedule %q: five cron fields", v.Spec.Schedule)
			}
			tmpl := &v.Spec.JobTemplate.Spec.Template
			checkLabels(r, o, "spec.jobTemplate.spec.template.metadata.labels", tmpl.Labels)
			checkPod(r, o, "spec.jobTemplate.spec.template.spec", &tmpl.Spec)
			if p := tmpl.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
				r.add(o, "spec.jobTemplate.spec.template.spec.restartPolicy %q: a Job's pods restart Never or OnFailure", p)
			}
		case *policyv1.PodDisruptionBudget:
			checkMeta(r, o, &v.ObjectMeta)
			if (v.Spec.MinAvailable == nil) == (v.Spec.MaxUnavailable == nil) {
				r.add(o, "spec: exactly one of minAvailable and maxUnavailable")
			}
			checkIntOrPercent(r, o, "spec.minAvailable", v.Spec.MinAvailable)
			checkIntOrPercent(r, o, "spec.maxUnavailable", v.Spec.MaxUnavailable)
			checkSelector(r, o, "spec.selector", v.Spec.Selector, nil)
		case *kedav1alpha1.ScaledObject:
			checkMeta(r, o, &v.ObjectMeta)
			if v.Spec.ScaleTargetRef == nil || v.Spec.ScaleTargetRef.Name == "" {
				r.add(o, "spec.scaleTargetRef.name is required")
			}
			if len(v.Spec.Triggers) == 0 {
				r.add(o, "spec.triggers: at least one trigger is required")
			}
			if err := kedav1alpha1.ValidateTriggers(v.Spec.Triggers); err != nil {
				r.add(o, "spec.triggers: %v", err)
			}
			if err := kedav1alpha1.CheckReplicaCountBoundsAreValid(v); err != nil {
				r.add(o, "spec: %v", err)
			}
			if err := kedav1alpha1.CheckFallbackValid(v); err != nil {
				r.add(o, "spec.fallback: %v", err)
			}
			for i, t := range v.Spec.Triggers {
				if t.Type == "kafka" {
					for k := range t.Metadata {
						if !kafkaMetadata[k] {
							r.add(o, "spec.triggers[%d] (kafka): metadata.%s: not a setting of KEDA's kafka scaler", i, k)
						}
					}
					if p, ok := t.Metadata["offsetResetPolicy"]; ok && p != "earliest" && p != "latest" {
						r.add(o, "spec.triggers[%d] (kafka): metadata.offsetResetPolicy %q: earliest or latest", i, p)
					}
					for _, k := range []string{"bootstrapServers", "consumerGroup"} {
						if t.Metadata[k] == "" && t.Metadata[k+"FromEnv"] == "" {
							r.add(o, "spec.triggers[%d] (kafka): metadata.%s is required", i, k)
						}
					}
					if s, ok := t.Metadata["lagThreshold"]; ok {
						if n, err := strconv.ParseInt(s, 10, 64); err != nil || n <= 0 {
							r.add(o, "spec.triggers[%d] (kafka): metadata.lagThreshold %q: a positive integer", i, s)
						}
					}
				}
			}
		case *kedav1alpha1.TriggerAuthentication:
			checkMeta(r, o, &v.ObjectMeta)
		case *monitoringv1.ServiceMonitor:
			checkMeta(r, o, &v.ObjectMeta)
			if len(v.Spec.Endpoints) == 0 {
				r.add(o, "spec.endpoints: at least one endpoint is required")
			}
		}
	}
	if !references {
		return
	}
	// references between the rendered objects
	for _, o := range objects {
		switch v := o.value.(type) {
		case *corev1.Service:
			if len(v.Spec.Selector) == 0 {
				continue
			}
			sel := labels.SelectorFromSet(v.Spec.Selector)
			matched := false
			for _, d := range deployments {
				if !sel.Matches(labels.Set(d.podLabels)) {
					continue
				}
				matched = true
				for i, p := range v.Spec.Ports {
					if p.TargetPort.String() != "0" && p.TargetPort.String() != "" && !d.ports[p.TargetPort.String()] {
						r.add(o, "spec.ports[%d].targetPort %q: no such port in Deployment %s", i, p.TargetPort.String(), d.obj.name)
					}
				}
			}
			if !matched {
				r.add(o, "spec.selector %v matches no rendered Deployment's pods", v.Spec.Selector)
			}
		case *policyv1.PodDisruptionBudget:
			if v.Spec.Selector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(v.Spec.Selector)
			if err != nil {
				continue
			}
			matched := false
			for _, d := range deployments {
				matched = matched || sel.Matches(labels.Set(d.podLabels))
			}
			if !matched {
				r.add(o, "spec.selector matches no rendered Deployment's pods")
			}
		case *kedav1alpha1.ScaledObject:
			ref := v.Spec.ScaleTargetRef
			if ref == nil || (ref.Kind != "" && ref.Kind != "Deployment") {
				continue
			}
			if _, ok := deployments[ref.Name]; !ok {
				r.add(o, "spec.scaleTargetRef.name %q: no such Deployment rendered", ref.Name)
			}
		case *appsv1.Deployment:
			for i, vol := range v.Spec.Template.Spec.Volumes {
				if vol.ConfigMap != nil && (vol.ConfigMap.Optional == nil || !*vol.ConfigMap.Optional) {
					if _, ok := seen["ConfigMap/"+vol.ConfigMap.Name]; !ok && !externalConfigMaps {
						r.add(o, "spec.template.spec.volumes[%d].configMap.name %q: no such ConfigMap rendered", i, vol.ConfigMap.Name)
					}
				}
			}
		}
	}
}
