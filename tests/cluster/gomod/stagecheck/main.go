// Command stagecheck evaluates KWOK Stages against a pod offline, with KWOK's own
// selector and template code: which stages match, and what each would write.
//
//	go run . -stages ../../stages -rounds 3 pod.yaml
//
// Each round picks the matching stage as KWOK would (weights), renders its steps,
// applies the status patch (strategic merge) and prints the result and events.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/utils/gotpl"
	"sigs.k8s.io/kwok/pkg/utils/lifecycle"
	"sigs.k8s.io/yaml"
)

func main() {
	dir := flag.String("stages", "../../stages", "directory with stage YAML files (recursive)")
	rounds := flag.Int("rounds", 3, "rounds to simulate")
	flag.Parse()
	ctx := context.Background()
	var files []string
	_ = filepath.Walk(*dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Ext(p) == ".yaml" {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	objs, err := config.Load(ctx, files...)
	must(err)
	stages := config.FilterWithType[*internalversion.Stage](objs)
	var podStages []*internalversion.Stage
	for _, s := range stages {
		if s.Spec.ResourceRef.Kind == "Pod" {
			podStages = append(podStages, s)
		}
	}
	fmt.Printf("loaded %d stages (%d for pods) from %d files\n", len(stages), len(podStages), len(files))
	lc, err := lifecycle.NewLifecycle(podStages)
	must(err)

	raw, err := os.ReadFile(flag.Arg(0))
	must(err)
	pod := &corev1.Pod{}
	must(yaml.Unmarshal(raw, pod))
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = "kwok-node-0"
	}
	if pod.UID == "" {
		pod.UID = "0000-uid"
	}
	if pod.CreationTimestamp.IsZero() {
		pod.CreationTimestamp.Time = pod.CreationTimestamp.Time.AddDate(2026, 0, 0)
	}
	if pod.Status.Phase == "" {
		pod.Status.Phase = corev1.PodPending
	}
	renderer := gotpl.NewRenderer(gotpl.FuncMap{
		"NodeIPWith":  func(string) string { return "127.0.0.1" },
		"NodeIPsWith": func(string) []string { return []string{"127.0.0.1"} },
		"PodIPWith":   func(string, bool, string, string, string) string { return "10.0.0.7" },
		"PodIPsWith":  func(string, bool, string, string, string) []string { return []string{"10.0.0.7"} },
	})
	for r := 0; r < *rounds; r++ {
		ev := &lifecycle.Event{Labels: pod.Labels, Annotations: pod.Annotations, Data: pod}
		all, err := lc.ListAllPossible(ctx, ev)
		must(err)
		names := []string{}
		for _, s := range all {
			w, _, _ := s.Weight(ctx, ev)
			names = append(names, fmt.Sprintf("%s(w=%d)", s.Name(), w))
		}
		fmt.Printf("=== round %d: candidates %v\n", r, names)
		st, err := lc.Match(ctx, ev)
		must(err)
		if st == nil {
			fmt.Println("no stage matches: pod stays as it is")
			break
		}
		d, _, err := st.Delay(ctx, ev, pod.CreationTimestamp.Time)
		fmt.Printf("--- stage %s (delay %v, err %v)\n", st.Name(), d, err)
		_, err = st.DoSteps(0, pod.Finalizers, pod, renderer,
			func(e *internalversion.StageEvent) error { fmt.Printf("event: %s %s %s\n", e.Type, e.Reason, e.Message); return nil },
			func() error { fmt.Println("delete"); return nil },
			func(p *lifecycle.Patch) error {
				orig, _ := json.Marshal(pod)
				var patched []byte
				var err error
				patched, err = strategicpatch.StrategicMergePatch(orig, p.Data, corev1.Pod{})
				if err != nil {
					return fmt.Errorf("patch %s: %w", p.Data, err)
				}
				np := &corev1.Pod{}
				if err := json.Unmarshal(patched, np); err != nil {
					return err
				}
				*pod = *np
				return nil
			},
			func(a *lifecycle.Apply) error {
				var m map[string]any
				_ = json.Unmarshal(a.Data, &m)
				fmt.Printf("apply %s/%s: %s %s %q count=%v\n", m["kind"], m["metadata"].(map[string]any)["name"], m["type"], m["reason"], m["message"], m["count"])
				return nil
			})
		must(err)
		out, _ := yaml.Marshal(pod.Status)
		fmt.Printf("status:\n%s", out)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
