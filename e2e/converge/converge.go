package converge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// Platform is what the checker needs from the platform simulator: a copy of one cluster's
// state. *platform.Server implements it; a client of a remote simulator can too.
type Platform interface {
	Cluster(clusterUID string) platform.ClusterState
}

// Ref identifies one object (kind, namespace, name, UID). It is the workload helpers' Ref,
// so the refs they return can be compared with a report's directly.
type Ref = workload.Ref

// Diff is one field whose value differs between the member and the platform.
type Diff struct {
	Ref
	// Field is the path of the record key, e.g. "labels.app", "containers[0].image".
	// Fields of the stored object itself, outside its record, are "object.name" and
	// "object.namespace".
	Field string
	// Member and Platform are the two values as compact JSON, or "<absent>".
	Member, Platform string
}

// Report lists every difference one Check found.
type Report struct {
	// Missing are live in the member but absent from the platform.
	Missing []Ref
	// Ghosts are held by the platform but no longer (or never) live in the member.
	Ghosts []Ref
	// Diffs are the differing fields of objects present on both sides.
	Diffs []Diff
	// Compared is how many member objects were checked (after the Options' filters).
	Compared int
}

// Empty reports whether the platform's state equals the member's.
func (r Report) Empty() bool { return len(r.Missing) == 0 && len(r.Ghosts) == 0 && len(r.Diffs) == 0 }

// maxLines bounds each section of Report.String.
const maxLines = 20

// String is a readable summary: the counts, then at most 20 lines of each kind of difference.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects compared: %d missing on the platform, %d ghosts, %d differing fields",
		r.Compared, len(r.Missing), len(r.Ghosts), len(r.Diffs))
	section := func(n int, line func(i int) string) {
		for i := range min(n, maxLines) {
			b.WriteString("\n  ")
			b.WriteString(line(i))
		}
		if n > maxLines {
			fmt.Fprintf(&b, "\n  ... and %d more", n-maxLines)
		}
	}
	section(len(r.Missing), func(i int) string { return fmt.Sprintf("missing %s (uid %s)", r.Missing[i], r.Missing[i].UID) })
	section(len(r.Ghosts), func(i int) string { return fmt.Sprintf("ghost   %s (uid %s)", r.Ghosts[i], r.Ghosts[i].UID) })
	section(len(r.Diffs), func(i int) string {
		d := r.Diffs[i]
		return fmt.Sprintf("differs %s %s: member %s, platform %s", d.Ref, d.Field, d.Member, d.Platform)
	})
	return b.String()
}

// Options narrows a check. The zero value compares every object of all 20 kinds.
type Options struct {
	// Kinds are the contract kinds compared. Default platform.Kinds (all 20).
	Kinds []string
	// ExcludeKinds are left out of Kinds, e.g. "Secret" when the hub does not collect Secrets.
	// Default none.
	ExcludeKinds []string
	// Namespaces, when set, limits namespaced objects to these namespaces and Namespace
	// objects to these names. Node, ClusterRole and ClusterRoleBinding are not affected.
	// Default: all namespaces.
	Namespaces []string
	// IgnoreNamespaces leaves out the namespaced objects of these namespaces and the
	// Namespace objects of these names. Default none.
	IgnoreNamespaces []string
	// Ignore, when set, leaves out every object (member or platform) for which it returns
	// true. Default nil.
	Ignore func(Ref) bool
	// IgnoreFields are record keys not compared: "key" for every kind or "Kind.key"
	// (e.g. "Node.status"). Default none.
	IgnoreFields []string
	// PageSize is the list page size. Default 500.
	PageSize int64
	// PollInterval is WaitConverged's interval between checks. Default 250ms.
	PollInterval time.Duration
}

// kindInfo is how the checker lists one kind.
type kindInfo struct {
	clusterScoped bool
	newList       func() client.ObjectList
}

var kindInfos = map[string]kindInfo{
	"Namespace":             {true, func() client.ObjectList { return &corev1.NamespaceList{} }},
	"Pod":                   {false, func() client.ObjectList { return &corev1.PodList{} }},
	"Service":               {false, func() client.ObjectList { return &corev1.ServiceList{} }},
	"Node":                  {true, func() client.ObjectList { return &corev1.NodeList{} }},
	"Deployment":            {false, func() client.ObjectList { return &appsv1.DeploymentList{} }},
	"StatefulSet":           {false, func() client.ObjectList { return &appsv1.StatefulSetList{} }},
	"DaemonSet":             {false, func() client.ObjectList { return &appsv1.DaemonSetList{} }},
	"Job":                   {false, func() client.ObjectList { return &batchv1.JobList{} }},
	"CronJob":               {false, func() client.ObjectList { return &batchv1.CronJobList{} }},
	"Ingress":               {false, func() client.ObjectList { return &networkingv1.IngressList{} }},
	"NetworkPolicy":         {false, func() client.ObjectList { return &networkingv1.NetworkPolicyList{} }},
	"ConfigMap":             {false, func() client.ObjectList { return &corev1.ConfigMapList{} }},
	"Secret":                {false, func() client.ObjectList { return &corev1.SecretList{} }},
	"PersistentVolumeClaim": {false, func() client.ObjectList { return &corev1.PersistentVolumeClaimList{} }},
	"ServiceAccount":        {false, func() client.ObjectList { return &corev1.ServiceAccountList{} }},
	"Role":                  {false, func() client.ObjectList { return &rbacv1.RoleList{} }},
	"ClusterRole":           {true, func() client.ObjectList { return &rbacv1.ClusterRoleList{} }},
	"RoleBinding":           {false, func() client.ObjectList { return &rbacv1.RoleBindingList{} }},
	"ClusterRoleBinding":    {true, func() client.ObjectList { return &rbacv1.ClusterRoleBindingList{} }},
	"Event":                 {false, func() client.ObjectList { return &corev1.EventList{} }},
}

// ClusterUID returns the member's cluster identity: the UID of its kube-system Namespace
// (contract §3.1).
func ClusterUID(ctx context.Context, member client.Reader) (string, error) {
	var ns corev1.Namespace
	if err := member.Get(ctx, client.ObjectKey{Name: metav1.NamespaceSystem}, &ns); err != nil {
		return "", fmt.Errorf("read kube-system namespace: %w", err)
	}
	return string(ns.UID), nil
}

// Check lists the member's live objects and compares them with the platform's state for
// clusterUID: objects are matched by kind and UID; a member object the platform lacks is
// Missing, a platform object the member lacks is a Ghost, and for a pair every key of the
// contract record (§4) that Record computes from the live object is compared with the stored
// record. The comparison treats an absent key like an empty value (presence rules are the
// simulator's validation's business), compares the keys whose order the contract calls random
// (data_keys, binary_keys, Role resources, Node roles) as sets, and timestamps as instants.
//
// The member's lists and the platform's copy are not one snapshot: while the member changes,
// a report can show differences that are only in flight. WaitConverged polls for that.
func Check(ctx context.Context, member client.Reader, clusterUID string, p Platform, opts Options) (Report, error) {
	kinds, err := opts.kinds()
	if err != nil {
		return Report{}, err
	}
	state := p.Cluster(clusterUID)
	var rep Report
	for _, kind := range kinds {
		live, err := listKind(ctx, member, kind, opts)
		if err != nil {
			return Report{}, err
		}
		held := map[string]platform.Object{}
		for uid, o := range state.Objects[kind] {
			if opts.include(Ref{Kind: kind, Namespace: o.Namespace, Name: o.Name, UID: uid}) {
				held[uid] = o
			}
		}
		for _, obj := range live {
			k, want, err := Record(obj)
			if err != nil {
				return Report{}, err
			}
			if k != kind {
				return Report{}, fmt.Errorf("check %s: listed a %s", kind, k)
			}
			ref := Ref{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID())}
			if !opts.include(ref) {
				continue
			}
			rep.Compared++
			got, ok := held[ref.UID]
			if !ok {
				rep.Missing = append(rep.Missing, ref)
				continue
			}
			delete(held, ref.UID)
			if got.Name != ref.Name {
				rep.Diffs = append(rep.Diffs, Diff{Ref: ref, Field: "object.name", Member: render(ref.Name), Platform: render(got.Name)})
			}
			if got.Namespace != ref.Namespace {
				rep.Diffs = append(rep.Diffs, Diff{Ref: ref, Field: "object.namespace", Member: render(ref.Namespace), Platform: render(got.Namespace)})
			}
			rep.Diffs = append(rep.Diffs, compareRecords(ref, want, got.Record, opts.ignoredField)...)
		}
		for uid, o := range held {
			rep.Ghosts = append(rep.Ghosts, Ref{Kind: kind, Namespace: o.Namespace, Name: o.Name, UID: uid})
		}
	}
	rep.sort()
	return rep, nil
}

// ErrNotConverged is returned (wrapped) by WaitConverged when the timeout passes first.
var ErrNotConverged = errors.New("member and platform did not converge")

// WaitConverged runs Check every Options.PollInterval until a report is empty or timeout
// passes, and returns the last report. A timeout gives an error wrapping ErrNotConverged that
// carries the report's summary; a failing Check is retried until the timeout (it then
// returns the last error).
//
// The timeout decides only whether another check starts: a check in progress runs to its
// end (bounded by ctx alone), so a slow member — many objects, a client-side rate limit —
// still yields a complete last report instead of an error about the deadline.
func WaitConverged(ctx context.Context, member client.Reader, clusterUID string, p Platform, opts Options, timeout time.Duration) (Report, error) {
	interval := opts.PollInterval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	var (
		last    Report
		lastErr error
	)
	for {
		rep, err := Check(ctx, member, clusterUID, p, opts)
		switch {
		case err == nil && rep.Empty():
			return rep, nil
		case err == nil:
			last, lastErr = rep, nil
		case ctx.Err() != nil:
			return last, fmt.Errorf("%w within %s: %w", ErrNotConverged, timeout, err)
		default:
			lastErr = err
		}
		wait := min(interval, time.Until(deadline))
		if wait <= 0 {
			if lastErr != nil {
				return last, fmt.Errorf("%w within %s: %w", ErrNotConverged, timeout, lastErr)
			}
			return last, fmt.Errorf("%w within %s: %s", ErrNotConverged, timeout, last)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w within %s: %w", ErrNotConverged, timeout, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func (o Options) kinds() ([]string, error) {
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = platform.Kinds
	}
	var out []string
	for _, k := range kinds {
		if _, ok := kindInfos[k]; !ok {
			return nil, fmt.Errorf("check: unknown kind %q", k)
		}
		if !slices.Contains(o.ExcludeKinds, k) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// include applies the namespace filters and Ignore to one object.
func (o Options) include(r Ref) bool {
	scope := r.Namespace
	if r.Kind == "Namespace" {
		scope = r.Name
	}
	if scope != "" || r.Kind == "Namespace" {
		if len(o.Namespaces) > 0 && !slices.Contains(o.Namespaces, scope) {
			return false
		}
		if slices.Contains(o.IgnoreNamespaces, scope) {
			return false
		}
	}
	return o.Ignore == nil || !o.Ignore(r)
}

func (o Options) ignoredField(kind, key string) bool {
	return slices.Contains(o.IgnoreFields, key) || slices.Contains(o.IgnoreFields, kind+"."+key)
}

// listKind lists the live objects of kind, page by page, in the namespaces Options selects.
func listKind(ctx context.Context, member client.Reader, kind string, opts Options) ([]client.Object, error) {
	info := kindInfos[kind]
	namespaces := []string{""}
	if !info.clusterScoped && len(opts.Namespaces) > 0 {
		namespaces = opts.Namespaces
	}
	pageSize := opts.PageSize
	if pageSize <= 0 {
		pageSize = 500
	}
	var out []client.Object
	for _, ns := range namespaces {
		// A continue token that expires (410) while paging restarts the list, a few times.
		for attempt := 0; ; attempt++ {
			objs, err := listPages(ctx, member, info, ns, pageSize)
			if apierrors.IsResourceExpired(err) && attempt < 3 {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", kind, err)
			}
			out = append(out, objs...)
			break
		}
	}
	return out, nil
}

func listPages(ctx context.Context, member client.Reader, info kindInfo, ns string, pageSize int64) ([]client.Object, error) {
	var out []client.Object
	cont := ""
	for {
		list := info.newList()
		lo := []client.ListOption{client.Limit(pageSize)}
		if cont != "" {
			lo = append(lo, client.Continue(cont))
		}
		if ns != "" {
			lo = append(lo, client.InNamespace(ns))
		}
		if err := member.List(ctx, list, lo...); err != nil {
			return nil, err
		}
		items, err := apimeta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			obj, ok := it.(client.Object)
			if !ok {
				return nil, fmt.Errorf("list item %T is not an object", it)
			}
			out = append(out, obj)
		}
		cont = list.GetContinue()
		if cont == "" {
			return out, nil
		}
	}
}

// kindOrder ranks kinds in snapshot order for sorting reports.
func kindOrder(kind string) int {
	if i := slices.Index(platform.Kinds, kind); i >= 0 {
		return i
	}
	return len(platform.Kinds)
}

func compareRefs(a, b Ref) int {
	return cmp.Or(
		cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.UID, b.UID),
	)
}

func (r *Report) sort() {
	slices.SortFunc(r.Missing, compareRefs)
	slices.SortFunc(r.Ghosts, compareRefs)
	slices.SortStableFunc(r.Diffs, func(a, b Diff) int { return compareRefs(a.Ref, b.Ref) })
}
