package controllers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
)

// CRDName is the name of the ObsykAgent CustomResourceDefinition.
const CRDName = "obsykagents.obsyk.io"

// ErrCRDOutdated is returned by CheckCRD when the installed CRD lacks fields of this build.
var ErrCRDOutdated = errors.New("the installed ObsykAgent CRD is older than this hub")

// CheckCRD verifies that the ObsykAgent CRD installed in the hub cluster serves
// obsyk.io/v1 with every spec and status field this build of the hub uses.
//
// The API server prunes fields its schema does not know, so a hub running over the
// reference operator's CRD (Helm never upgrades a chart's crds/ directory) would lose its
// own fields silently: agents would all stream the hub's own cluster. The hub therefore
// checks at start and refuses to run with a message that says how to upgrade. The field
// list is derived from the Go types, so it cannot drift from them.
func CheckCRD(ctx context.Context, c client.Reader) error {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := c.Get(ctx, client.ObjectKey{Name: CRDName}, &crd); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the ObsykAgent CRD %s is not installed: %s", CRDName, upgradeHint)
		}
		return fmt.Errorf("read CRD %s: %w", CRDName, err)
	}
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == obsykv1.GroupVersion.Version && crd.Spec.Versions[i].Served {
			version = &crd.Spec.Versions[i]
		}
	}
	if version == nil {
		return fmt.Errorf("%w: CRD %s does not serve %s: %s", ErrCRDOutdated, CRDName, obsykv1.GroupVersion, upgradeHint)
	}
	if version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
		return fmt.Errorf("%w: CRD %s %s has no schema: %s", ErrCRDOutdated, CRDName, version.Name, upgradeHint)
	}
	root := version.Schema.OpenAPIV3Schema.Properties
	var missing []string
	missing = append(missing, missingFields("spec", root["spec"], reflect.TypeFor[obsykv1.ObsykAgentSpec]())...)
	missing = append(missing, missingFields("status", root["status"], reflect.TypeFor[obsykv1.ObsykAgentStatus]())...)
	if version.Subresources == nil || version.Subresources.Status == nil {
		missing = append(missing, "the status subresource")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: CRD %s lacks %s: %s", ErrCRDOutdated, CRDName, strings.Join(missing, ", "), upgradeHint)
	}
	return nil
}

const upgradeHint = "install or upgrade it from this release (kubectl apply --server-side -f " +
	"charts/obsyk-hub/files/crds/obsyk.io_obsykagents.yaml, or see \"Migrating from obsyk-operator\" in the README)"

// missingFields lists the JSON fields of t, recursively through nested structs (and
// pointers and slices of structs), that the schema lacks, as dotted paths under prefix.
func missingFields(prefix string, schema apiextensionsv1.JSONSchemaProps, t reflect.Type) []string {
	var missing []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + "." + name
		sub, ok := schema.Properties[name]
		if !ok {
			missing = append(missing, path)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
			if sub.Items != nil && sub.Items.Schema != nil {
				sub = *sub.Items.Schema
			}
		}
		// Only our own nested types are walked; metav1 types (Time, Condition) are leaves
		// whose schema controller-gen writes from the upstream definitions.
		if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[obsykv1.ObsykAgent]().PkgPath() {
			missing = append(missing, missingFields(path, sub, ft)...)
		}
	}
	return missing
}
