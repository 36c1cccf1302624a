package clusterregistry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	// DefaultRegistrationNamespace is the hub namespace of kubeconfig Secrets when
	// RegisterOptions.Namespace is empty.
	DefaultRegistrationNamespace = "obsyk-system"
	// MemberNamespace is the member namespace that holds the hub's ServiceAccount (and, where
	// the member fills it in, its token Secret). Register creates it when missing; Unregister
	// leaves it, because obsyk-operator and other tools use the same namespace.
	MemberNamespace = "obsyk-system"
	// ReaderName names the member's ServiceAccount, ClusterRole and ClusterRoleBinding.
	ReaderName = "obsyk-hub-reader"
	// ReaderTokenSecretName names the member's kubernetes.io/service-account-token Secret.
	ReaderTokenSecretName = "obsyk-hub-reader-token"

	// KubeconfigSecretLabel marks a hub Secret as a member kubeconfig, with value "true"
	// (multicluster-runtime's kubeconfig provider convention).
	KubeconfigSecretLabel = "sigs.k8s.io/multicluster-runtime-kubeconfig"
	// KubeconfigSecretKey is the data key of the kubeconfig in that Secret.
	KubeconfigSecretKey = "kubeconfig"
	// AllowedNamespacesAnnotation lists, comma-separated, the namespaces other than the
	// Secret's own whose ObsykAgents may target the cluster.
	AllowedNamespacesAnnotation = "obsyk.io/allowed-namespaces"

	// DefaultTokenTTL is the lifetime asked of the TokenRequest API when
	// RegisterOptions.TokenTTL is zero.
	DefaultTokenTTL = 365 * 24 * time.Hour
	// MinTokenTTL is the shortest lifetime the TokenRequest API accepts.
	MinTokenTTL = 10 * time.Minute
	// DefaultLegacyTokenWait is how long Register waits, by default, for the member to fill in
	// a service-account-token Secret.
	DefaultLegacyTokenWait = 5 * time.Second
	// DefaultRequestTimeout bounds each API call of Register and Unregister by default.
	DefaultRequestTimeout = 30 * time.Second

	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "obsyk-hub"
	// legacyTokenPoll is how often Register looks at the token Secret while it waits.
	legacyTokenPoll = 250 * time.Millisecond
)

// RegisterOptions configures Register. Name, Member and Hub are required; every other field
// has a default.
type RegisterOptions struct {
	// Name is the cluster's name: the name of its kubeconfig Secret in the hub, so a DNS
	// subdomain. Required.
	Name string
	// Member holds credentials to the member allowed to create namespaces, ServiceAccounts,
	// Secrets, ClusterRoles and ClusterRoleBindings and to request tokens. They are used only
	// to create the hub's read-only identity and are never written anywhere. Required.
	Member *rest.Config
	// Hub is a client of the hub cluster, allowed to get, create and update Secrets (and to
	// create the namespace if it is missing). Required.
	Hub client.Client
	// Namespace is the hub namespace of the kubeconfig Secret. Default "obsyk-system".
	Namespace string
	// ServerURL is the member API server URL written into the kubeconfig, as the hub will
	// reach it (an address inside the member's own network may differ). It must be https.
	// Default Member.Host.
	ServerURL string
	// CollectSecrets also grants list and watch on Secrets. The hub only ever reads their key
	// names, but the grant itself is cluster-wide Secret read: whoever holds the kubeconfig can
	// read every ServiceAccount token of the member. Default false.
	CollectSecrets bool
	// TokenTTL is the lifetime asked of the TokenRequest API, used when the member does not
	// fill in a long-lived token Secret (see Register). The member may shorten it; the actual
	// expiry is in Registration.TokenExpiry. At least MinTokenTTL. Default one year.
	TokenTTL time.Duration
	// AllowedNamespaces are hub namespaces (DNS labels) whose ObsykAgents may target this
	// cluster besides the Secret's own namespace; written to the annotation
	// obsyk.io/allowed-namespaces. Default none.
	AllowedNamespaces []string
	// LegacyTokenWait is how long to wait for the member's token controller to fill in a
	// long-lived service-account-token Secret before falling back to the TokenRequest API.
	// Negative skips the Secret and goes straight to TokenRequest. Default 5s.
	LegacyTokenWait time.Duration
	// RequestTimeout bounds each API call to the member or the hub. Default 30s.
	RequestTimeout time.Duration
}

// Registration describes what Register wrote. It holds no credential.
type Registration struct {
	// Name is the cluster's name, and the hub Secret's.
	Name string
	// SecretNamespace is the hub namespace of the kubeconfig Secret.
	SecretNamespace string
	// ServerURL is the server in the kubeconfig.
	ServerURL string
	// ServiceAccount is the member ServiceAccount the kubeconfig authenticates as.
	ServiceAccount types.NamespacedName
	// TokenExpiry is when the token expires; nil when it does not (a Secret-based token).
	// Re-run Register before then to rotate it.
	TokenExpiry *time.Time
	// CollectSecrets tells whether the identity may list and watch Secrets.
	CollectSecrets bool
}

// UnregisterOptions configures Unregister. Name and Hub are required.
type UnregisterOptions struct {
	// Name is the cluster's name, as given to Register. Required.
	Name string
	// Member holds admin-ish credentials to the member. Nil leaves the member untouched, for a
	// member that no longer exists. Default nil.
	Member *rest.Config
	// Hub is a client of the hub cluster. Required.
	Hub client.Client
	// Namespace is the hub namespace of the kubeconfig Secret. Default "obsyk-system".
	Namespace string
	// RequestTimeout bounds each API call. Default 30s.
	RequestTimeout time.Duration
}

// ReaderPolicyRules returns the member ClusterRole's rules: list and watch on each collected
// kind (Secrets only when collectSecrets), and get on the kube-system namespace, whose UID
// identifies the cluster. Nothing else: no get on other objects, no write.
func ReaderPolicyRules(collectSecrets bool) []rbacv1.PolicyRule {
	core := []string{"namespaces", "pods", "services", "nodes", "configmaps",
		"persistentvolumeclaims", "serviceaccounts", "events"}
	if collectSecrets {
		core = append(core, "secrets")
	}
	read := []string{"list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: core, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: read},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: read},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"kube-system"}, Verbs: []string{"get"}},
	}
}

// Register gives the hub read-only access to a member cluster, and is idempotent: running it
// again brings everything back to what opts asks for and renews the token.
//
// In the member it creates (or updates) the namespace obsyk-system, the ServiceAccount,
// ClusterRole and ClusterRoleBinding obsyk-hub-reader (rules: ReaderPolicyRules), and a
// token: first a long-lived kubernetes.io/service-account-token Secret, waited for up to
// LegacyTokenWait; if the member does not fill it in (no token controller, or one that no
// longer serves such Secrets), the Secret is deleted and a token of TokenTTL is requested
// through the TokenRequest API instead. In the hub it creates (or updates) the Secret Name in
// Namespace, labelled for the kubeconfig provider, whose kubeconfig holds the server URL, the
// member's CA data (embedded) and that token — never the credentials of opts.Member.
// A hub Secret of that name that lacks the kubeconfig label is refused, not overwritten.
func Register(ctx context.Context, opts RegisterOptions) (*Registration, error) {
	if err := opts.complete(); err != nil {
		return nil, fmt.Errorf("register cluster %q: %w", opts.Name, err)
	}
	log := logf.FromContext(ctx).WithValues("cluster", opts.Name)
	member, err := kubernetes.NewForConfig(opts.Member)
	if err != nil {
		return nil, fmt.Errorf("register cluster %s: build member client: %w", opts.Name, err)
	}
	caData, err := memberCA(opts.Member)
	if err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", opts.Name, err)
	}
	r := &registrar{timeout: opts.RequestTimeout, member: member, hub: opts.Hub}
	// Refuse a foreign hub Secret before changing anything in the member.
	if err := r.checkHubSecret(ctx, opts.Namespace, opts.Name); err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", opts.Name, err)
	}
	if err := r.ensureIdentity(ctx, opts.CollectSecrets); err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", opts.Name, err)
	}
	log.V(1).Info("member identity ready", "serviceAccount", MemberNamespace+"/"+ReaderName)

	tok, err := r.token(ctx, opts.LegacyTokenWait, opts.TokenTTL)
	if err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", opts.Name, err)
	}
	if len(caData) == 0 {
		caData = tok.caData
	}
	kubeconfig, err := readerKubeconfig(opts.Name, opts.ServerURL, caData, opts.Member.TLSClientConfig, tok.token)
	if err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", opts.Name, err)
	}
	if err := r.writeHubSecret(ctx, opts, kubeconfig); err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", opts.Name, err)
	}
	log.V(1).Info("kubeconfig secret written", "namespace", opts.Namespace, "longLivedToken", tok.expiry == nil)
	return &Registration{
		Name:            opts.Name,
		SecretNamespace: opts.Namespace,
		ServerURL:       opts.ServerURL,
		ServiceAccount:  types.NamespacedName{Namespace: MemberNamespace, Name: ReaderName},
		TokenExpiry:     tok.expiry,
		CollectSecrets:  opts.CollectSecrets,
	}, nil
}

// Unregister removes what Register created: the hub Secret, then (when opts.Member is set)
// the member's ClusterRoleBinding, ClusterRole, token Secret and ServiceAccount. Deleting
// the ServiceAccount invalidates every token issued for it. What is already gone is skipped;
// the member namespace is left (see MemberNamespace). It tries every deletion and returns
// all errors.
func Unregister(ctx context.Context, opts UnregisterOptions) error {
	if err := opts.complete(); err != nil {
		return fmt.Errorf("unregister cluster %q: %w", opts.Name, err)
	}
	r := &registrar{timeout: opts.RequestTimeout, hub: opts.Hub}
	errs := []error{r.deleteHubSecret(ctx, opts.Namespace, opts.Name)}
	if opts.Member != nil {
		member, err := kubernetes.NewForConfig(opts.Member)
		if err != nil {
			errs = append(errs, fmt.Errorf("build member client: %w", err))
		} else {
			r.member = member
			errs = append(errs, r.deleteIdentity(ctx)...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unregister cluster %s: %w", opts.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("cluster unregistered", "cluster", opts.Name)
	return nil
}

func (o *RegisterOptions) complete() error {
	if err := validateName(o.Name); err != nil {
		return err
	}
	if o.Member == nil {
		return errors.New("member rest config is required")
	}
	if o.Hub == nil {
		return errors.New("hub client is required")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultRegistrationNamespace
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return fmt.Errorf("invalid namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	if o.ServerURL == "" {
		o.ServerURL = o.Member.Host
	}
	server, err := normalizeServerURL(o.ServerURL)
	if err != nil {
		return err
	}
	o.ServerURL = server
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.TokenTTL < MinTokenTTL {
		return fmt.Errorf("token ttl %s is shorter than %s", o.TokenTTL, MinTokenTTL)
	}
	var allowed []string
	for _, ns := range o.AllowedNamespaces {
		ns = strings.TrimSpace(ns)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("invalid allowed namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		if !slices.Contains(allowed, ns) {
			allowed = append(allowed, ns)
		}
	}
	o.AllowedNamespaces = allowed
	if o.LegacyTokenWait == 0 {
		o.LegacyTokenWait = DefaultLegacyTokenWait
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	return nil
}

func (o *UnregisterOptions) complete() error {
	if err := validateName(o.Name); err != nil {
		return err
	}
	if o.Hub == nil {
		return errors.New("hub client is required")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultRegistrationNamespace
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	return nil
}

func validateName(name string) error {
	if name == "" {
		return errors.New("cluster name is required")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("invalid cluster name: %s", strings.Join(errs, "; "))
	}
	return nil
}

// normalizeServerURL adds a missing https scheme and refuses plain http, which would send
// the token in the clear.
func normalizeServerURL(server string) (string, error) {
	if server == "" {
		return "", errors.New("server url is required (member rest config has no host)")
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("invalid server url: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("server url %q must be https://host[:port]", server)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// memberCA returns the CA bundle that verifies the member's API server, embedded from
// CAData or read from CAFile (a file of the machine running the registration).
func memberCA(cfg *rest.Config) ([]byte, error) {
	if len(cfg.CAData) > 0 {
		return cfg.CAData, nil
	}
	if cfg.CAFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read member ca file: %w", err)
	}
	return data, nil
}

// readerKubeconfig serialises a kubeconfig that authenticates with token only.
func readerKubeconfig(name, server string, caData []byte, tlsCfg rest.TLSClientConfig, token string) ([]byte, error) {
	cluster := &clientcmdapi.Cluster{Server: server, TLSServerName: tlsCfg.ServerName}
	if tlsCfg.Insecure {
		// Carried over as it was asked for; the hub refuses it unless started to allow it.
		cluster.InsecureSkipTLSVerify = true
	} else {
		cluster.CertificateAuthorityData = caData
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = cluster
	kc.AuthInfos[ReaderName] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: ReaderName}
	kc.CurrentContext = name
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("serialise kubeconfig: %w", err)
	}
	return data, nil
}

// registrar carries the clients and the per-call timeout of one Register or Unregister.
type registrar struct {
	timeout time.Duration
	member  kubernetes.Interface
	hub     client.Client
}

// call runs f with a context bounded by the per-call timeout.
func (r *registrar) call(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return f(ctx)
}

func managedLabels() map[string]string {
	return map[string]string{managedByLabel: managedByValue}
}

func (r *registrar) ensureIdentity(ctx context.Context, collectSecrets bool) error {
	if err := r.ensureNamespace(ctx, r.memberNamespaces(), MemberNamespace, "member"); err != nil {
		return err
	}
	if err := r.ensureServiceAccount(ctx); err != nil {
		return err
	}
	if err := r.ensureClusterRole(ctx, collectSecrets); err != nil {
		return err
	}
	return r.ensureClusterRoleBinding(ctx)
}

// namespaceAPI is the part of the namespace API ensureNamespace needs, in either cluster.
type namespaceAPI struct {
	get    func(ctx context.Context, name string) error
	create func(ctx context.Context, ns *corev1.Namespace) error
}

func (r *registrar) memberNamespaces() namespaceAPI {
	return namespaceAPI{
		get: func(ctx context.Context, name string) error {
			_, err := r.member.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			return err
		},
		create: func(ctx context.Context, ns *corev1.Namespace) error {
			_, err := r.member.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			return err
		},
	}
}

func (r *registrar) hubNamespaces() namespaceAPI {
	return namespaceAPI{
		get: func(ctx context.Context, name string) error {
			return r.hub.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
		},
		create: func(ctx context.Context, ns *corev1.Namespace) error {
			return r.hub.Create(ctx, ns)
		},
	}
}

func (r *registrar) ensureNamespace(ctx context.Context, api namespaceAPI, name, where string) error {
	err := r.call(ctx, func(ctx context.Context) error { return api.get(ctx, name) })
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get %s namespace %s: %w", where, name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managedLabels()}}
	err = r.call(ctx, func(ctx context.Context) error { return api.create(ctx, ns) })
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s namespace %s: %w", where, name, err)
	}
	return nil
}

func (r *registrar) ensureServiceAccount(ctx context.Context) error {
	sas := r.member.CoreV1().ServiceAccounts(MemberNamespace)
	err := r.call(ctx, func(ctx context.Context) error {
		_, err := sas.Get(ctx, ReaderName, metav1.GetOptions{})
		return err
	})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get service account %s/%s: %w", MemberNamespace, ReaderName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ReaderName, Namespace: MemberNamespace, Labels: managedLabels()}}
	err = r.call(ctx, func(ctx context.Context) error {
		_, err := sas.Create(ctx, sa, metav1.CreateOptions{})
		return err
	})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", MemberNamespace, ReaderName, err)
	}
	return nil
}

func (r *registrar) ensureClusterRole(ctx context.Context, collectSecrets bool) error {
	roles := r.member.RbacV1().ClusterRoles()
	rules := ReaderPolicyRules(collectSecrets)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var existing *rbacv1.ClusterRole
		err := r.call(ctx, func(ctx context.Context) error {
			var err error
			existing, err = roles.Get(ctx, ReaderName, metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ReaderName, Labels: managedLabels()}, Rules: rules}
			return r.call(ctx, func(ctx context.Context) error {
				_, err := roles.Create(ctx, role, metav1.CreateOptions{})
				return err
			})
		}
		if err != nil {
			return err
		}
		if existing.AggregationRule == nil && equality.Semantic.DeepEqual(existing.Rules, rules) {
			return nil
		}
		existing.AggregationRule = nil // an aggregated role's rules are not ours to set
		existing.Rules = rules
		return r.call(ctx, func(ctx context.Context) error {
			_, err := roles.Update(ctx, existing, metav1.UpdateOptions{})
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("ensure cluster role %s: %w", ReaderName, err)
	}
	return nil
}

func (r *registrar) ensureClusterRoleBinding(ctx context.Context) error {
	bindings := r.member.RbacV1().ClusterRoleBindings()
	want := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ReaderName, Labels: managedLabels()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ReaderName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ReaderName, Namespace: MemberNamespace}},
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var existing *rbacv1.ClusterRoleBinding
		err := r.call(ctx, func(ctx context.Context) error {
			var err error
			existing, err = bindings.Get(ctx, ReaderName, metav1.GetOptions{})
			return err
		})
		switch {
		case apierrors.IsNotFound(err):
			return r.call(ctx, func(ctx context.Context) error {
				_, err := bindings.Create(ctx, want, metav1.CreateOptions{})
				return err
			})
		case err != nil:
			return err
		case existing.RoleRef != want.RoleRef:
			// roleRef is immutable: replace the binding. A create that races with another
			// registration gets AlreadyExists, which the retry below does not cover: the
			// caller re-runs.
			if err := r.call(ctx, func(ctx context.Context) error {
				return bindings.Delete(ctx, ReaderName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &existing.UID}})
			}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			return r.call(ctx, func(ctx context.Context) error {
				_, err := bindings.Create(ctx, want, metav1.CreateOptions{})
				return err
			})
		case equality.Semantic.DeepEqual(existing.Subjects, want.Subjects):
			return nil
		default:
			existing.Subjects = want.Subjects
			return r.call(ctx, func(ctx context.Context) error {
				_, err := bindings.Update(ctx, existing, metav1.UpdateOptions{})
				return err
			})
		}
	})
	if err != nil {
		return fmt.Errorf("ensure cluster role binding %s: %w", ReaderName, err)
	}
	return nil
}

// issuedToken is a bearer token for the reader ServiceAccount. Never log it.
type issuedToken struct {
	token  string
	caData []byte     // the member's CA, when a token Secret carried one
	expiry *time.Time // nil for a Secret-based token, which does not expire
}

// token returns a long-lived Secret-based token if the member fills one in within
// legacyWait, else a TokenRequest token of ttl.
func (r *registrar) token(ctx context.Context, legacyWait, ttl time.Duration) (issuedToken, error) {
	if legacyWait > 0 {
		tok, ok, err := r.secretToken(ctx, legacyWait)
		if err != nil || ok {
			return tok, err
		}
	}
	return r.requestToken(ctx, ttl)
}

func (r *registrar) secretToken(ctx context.Context, timeout time.Duration) (issuedToken, bool, error) {
	secrets := r.member.CoreV1().Secrets(MemberNamespace)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ReaderTokenSecretName,
			Namespace:   MemberNamespace,
			Labels:      managedLabels(),
			Annotations: map[string]string{corev1.ServiceAccountNameKey: ReaderName},
		},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	err := r.call(ctx, func(ctx context.Context) error {
		_, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
		return err
	})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return issuedToken{}, false, fmt.Errorf("create token secret %s/%s: %w", MemberNamespace, ReaderTokenSecretName, err)
	}

	var filled *corev1.Secret
	var lastErr error
	pollErr := wait.PollUntilContextTimeout(ctx, legacyTokenPoll, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := secrets.Get(ctx, ReaderTokenSecretName, metav1.GetOptions{})
		if err != nil {
			lastErr = err
			return false, nil
		}
		if got.Type != corev1.SecretTypeServiceAccountToken || got.Annotations[corev1.ServiceAccountNameKey] != ReaderName {
			return false, fmt.Errorf("secret %s/%s exists but is not a token of service account %s", MemberNamespace, ReaderTokenSecretName, ReaderName)
		}
		if len(got.Data[corev1.ServiceAccountTokenKey]) == 0 {
			return false, nil
		}
		filled = got
		return true, nil
	})
	if filled != nil {
		return issuedToken{token: string(filled.Data[corev1.ServiceAccountTokenKey]), caData: filled.Data[corev1.ServiceAccountRootCAKey]}, true, nil
	}
	if pollErr != nil && !wait.Interrupted(pollErr) {
		return issuedToken{}, false, pollErr
	}
	if ctx.Err() != nil {
		return issuedToken{}, false, fmt.Errorf("wait for token secret %s/%s: %w (last: %v)", MemberNamespace, ReaderTokenSecretName, ctx.Err(), lastErr)
	}
	// Not filled in: the member has no token controller serving such Secrets. Remove the
	// empty Secret and fall back to TokenRequest.
	if err := r.deleteTokenSecret(ctx); err != nil {
		return issuedToken{}, false, err
	}
	return issuedToken{}, false, nil
}

func (r *registrar) requestToken(ctx context.Context, ttl time.Duration) (issuedToken, error) {
	seconds := int64(ttl / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}
	var resp *authenticationv1.TokenRequest
	err := r.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = r.member.CoreV1().ServiceAccounts(MemberNamespace).CreateToken(ctx, ReaderName, req, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return issuedToken{}, fmt.Errorf("request token for service account %s/%s: %w", MemberNamespace, ReaderName, err)
	}
	if resp.Status.Token == "" {
		return issuedToken{}, fmt.Errorf("request token for service account %s/%s: empty token in response", MemberNamespace, ReaderName)
	}
	expiry := resp.Status.ExpirationTimestamp.Time
	return issuedToken{token: resp.Status.Token, expiry: &expiry}, nil
}

// errForeignSecret refuses to overwrite or delete a hub Secret that registration did not write.
var errForeignSecret = fmt.Errorf("secret exists and is not a cluster kubeconfig secret (no %s=true label)", KubeconfigSecretLabel)

// checkHubSecret returns errForeignSecret if the hub holds a Secret of that name that is not
// a kubeconfig Secret.
func (r *registrar) checkHubSecret(ctx context.Context, namespace, name string) error {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	existing := &corev1.Secret{}
	err := r.call(ctx, func(ctx context.Context) error { return r.hub.Get(ctx, key, existing) })
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get hub secret %s: %w", key, err)
	case existing.Labels[KubeconfigSecretLabel] != "true":
		return fmt.Errorf("hub secret %s: %w; refusing to overwrite it", key, errForeignSecret)
	}
	return nil
}

func (r *registrar) writeHubSecret(ctx context.Context, opts RegisterOptions, kubeconfig []byte) error {
	if err := r.ensureNamespace(ctx, r.hubNamespaces(), opts.Namespace, "hub"); err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: opts.Namespace, Name: opts.Name}
	apply := func(s *corev1.Secret) {
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[KubeconfigSecretLabel] = "true"
		s.Labels[managedByLabel] = managedByValue
		if len(opts.AllowedNamespaces) > 0 {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[AllowedNamespacesAnnotation] = strings.Join(opts.AllowedNamespaces, ",")
		} else {
			delete(s.Annotations, AllowedNamespacesAnnotation)
		}
		s.Type = corev1.SecretTypeOpaque
		s.Data = map[string][]byte{KubeconfigSecretKey: kubeconfig}
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		existing := &corev1.Secret{}
		err := r.call(ctx, func(ctx context.Context) error { return r.hub.Get(ctx, key, existing) })
		if apierrors.IsNotFound(err) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Namespace: opts.Namespace}}
			apply(s)
			return r.call(ctx, func(ctx context.Context) error { return r.hub.Create(ctx, s) })
		}
		if err != nil {
			return err
		}
		if existing.Labels[KubeconfigSecretLabel] != "true" {
			return fmt.Errorf("%w; refusing to overwrite it", errForeignSecret)
		}
		apply(existing)
		return r.call(ctx, func(ctx context.Context) error { return r.hub.Update(ctx, existing) })
	})
	if err != nil {
		return fmt.Errorf("write hub secret %s: %w", key, err)
	}
	return nil
}

func (r *registrar) deleteHubSecret(ctx context.Context, namespace, name string) error {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	existing := &corev1.Secret{}
	err := r.call(ctx, func(ctx context.Context) error { return r.hub.Get(ctx, key, existing) })
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get hub secret %s: %w", key, err)
	}
	if existing.Labels[KubeconfigSecretLabel] != "true" {
		return fmt.Errorf("hub secret %s: %w; refusing to delete it", key, errForeignSecret)
	}
	err = r.call(ctx, func(ctx context.Context) error {
		return r.hub.Delete(ctx, existing, client.Preconditions{UID: &existing.UID})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete hub secret %s: %w", key, err)
	}
	return nil
}

func (r *registrar) deleteTokenSecret(ctx context.Context) error {
	err := r.call(ctx, func(ctx context.Context) error {
		return r.member.CoreV1().Secrets(MemberNamespace).Delete(ctx, ReaderTokenSecretName, metav1.DeleteOptions{})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete token secret %s/%s: %w", MemberNamespace, ReaderTokenSecretName, err)
	}
	return nil
}

// deleteIdentity removes the member objects, binding first so that the permissions go
// before the identity, and returns every error.
func (r *registrar) deleteIdentity(ctx context.Context) []error {
	del := func(what string, f func(ctx context.Context) error) error {
		if err := r.call(ctx, f); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", what, err)
		}
		return nil
	}
	rbac := r.member.RbacV1()
	return []error{
		del("cluster role binding "+ReaderName, func(ctx context.Context) error {
			return rbac.ClusterRoleBindings().Delete(ctx, ReaderName, metav1.DeleteOptions{})
		}),
		del("cluster role "+ReaderName, func(ctx context.Context) error {
			return rbac.ClusterRoles().Delete(ctx, ReaderName, metav1.DeleteOptions{})
		}),
		r.deleteTokenSecret(ctx),
		del("service account "+MemberNamespace+"/"+ReaderName, func(ctx context.Context) error {
			return r.member.CoreV1().ServiceAccounts(MemberNamespace).Delete(ctx, ReaderName, metav1.DeleteOptions{})
		}),
	}
}
