package ingest

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// item is what a cluster's informer caches hold for one object: its identity, resource
// version and compact wire record, never the object itself. Items are immutable once built.
//
// It implements metav1.Object (and runtime.Object) only so that client-go's key and
// namespace-index functions (meta.Accessor) work on it unchanged; the setters do nothing,
// and the getters of metadata it does not keep return zero values.
type item struct {
	kind            transport.Kind
	namespace       string // empty for cluster-scoped kinds
	name            string
	uid             string
	resourceVersion string
	record          transport.Record
}

// toItem is the informers' transform: it converts an API object into an item before the
// informer stores it. The item's record is compact (convert.Compact): it holds no reference
// into the object, and its repeated parts are shared with other items, so the object is
// garbage as soon as the informer has stored the item. An item is passed through unchanged
// (a transform may see it again, e.g. when a watch-list's items are replaced into the
// store, or on a resync), and so is a tombstone, whose inner object was stored, hence
// converted, before.
func toItem(obj any) (any, error) {
	switch o := obj.(type) {
	case *item:
		return o, nil
	case cache.DeletedFinalStateUnknown:
		return o, nil
	case runtime.Object:
		rec, err := convert.Compact(o)
		if err != nil {
			return nil, fmt.Errorf("convert object: %w", err)
		}
		m, err := meta.Accessor(o)
		if err != nil {
			return nil, fmt.Errorf("read object metadata: %w", err)
		}
		ns, name, uid := convert.Identity(rec) // the record's copies, not the object's
		return &item{
			kind:            rec.Kind(),
			namespace:       ns,
			name:            name,
			uid:             uid,
			resourceVersion: strings.Clone(m.GetResourceVersion()),
			record:          rec,
		}, nil
	}
	return nil, fmt.Errorf("unexpected object of type %T", obj)
}

// itemOf returns the item held by a handler argument: an item or a tombstone around one.
func itemOf(obj any) (*item, bool) {
	switch o := obj.(type) {
	case *item:
		return o, true
	case cache.DeletedFinalStateUnknown:
		it, ok := o.Obj.(*item)
		return it, ok
	case *cache.DeletedFinalStateUnknown:
		it, ok := o.Obj.(*item)
		return it, ok
	}
	return nil, false
}

func (i *item) change(t transport.EventType) Change {
	return Change{Kind: i.kind, Namespace: i.namespace, Name: i.name, UID: i.uid, Type: t}
}

var _ metav1.Object = (*item)(nil)

// runtime.Object, for code that asserts it; an item is immutable, so a copy is itself.
func (i *item) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (i *item) DeepCopyObject() runtime.Object   { return i }

// metav1.Object getters for the metadata an item keeps.
func (i *item) GetNamespace() string       { return i.namespace }
func (i *item) GetName() string            { return i.name }
func (i *item) GetUID() types.UID          { return types.UID(i.uid) }
func (i *item) GetResourceVersion() string { return i.resourceVersion }

// The rest of metav1.Object: zero values and no-op setters (items are immutable).
func (i *item) SetNamespace(string)                           {}
func (i *item) SetName(string)                                {}
func (i *item) GetGenerateName() string                       { return "" }
func (i *item) SetGenerateName(string)                        {}
func (i *item) SetUID(types.UID)                              {}
func (i *item) SetResourceVersion(string)                     {}
func (i *item) GetGeneration() int64                          { return 0 }
func (i *item) SetGeneration(int64)                           {}
func (i *item) GetSelfLink() string                           { return "" }
func (i *item) SetSelfLink(string)                            {}
func (i *item) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (i *item) SetCreationTimestamp(metav1.Time)              {}
func (i *item) GetDeletionTimestamp() *metav1.Time            { return nil }
func (i *item) SetDeletionTimestamp(*metav1.Time)             {}
func (i *item) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (i *item) SetDeletionGracePeriodSeconds(*int64)          {}
func (i *item) GetLabels() map[string]string                  { return nil }
func (i *item) SetLabels(map[string]string)                   {}
func (i *item) GetAnnotations() map[string]string             { return nil }
func (i *item) SetAnnotations(map[string]string)              {}
func (i *item) GetFinalizers() []string                       { return nil }
func (i *item) SetFinalizers([]string)                        {}
func (i *item) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (i *item) SetOwnerReferences([]metav1.OwnerReference)    {}
func (i *item) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (i *item) SetManagedFields([]metav1.ManagedFieldsEntry)  {}
