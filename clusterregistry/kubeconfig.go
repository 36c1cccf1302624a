package clusterregistry

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Reasons a kubeconfig is rejected. They are stable: status conditions and metrics show them.
const (
	// ReasonParseError: the data is not a kubeconfig (or the Secret lacks the key).
	ReasonParseError = "ParseError"
	// ReasonNoCurrentContext: the kubeconfig names no current context.
	ReasonNoCurrentContext = "NoCurrentContext"
	// ReasonContextNotFound: the current context, or the cluster or user it names, is missing.
	ReasonContextNotFound = "ContextNotFound"
	// ReasonNoServer: the current context's cluster has no usable https server URL.
	ReasonNoServer = "NoServer"
	// ReasonExecNotAllowed: the user runs an exec credential plugin (a program on the hub).
	ReasonExecNotAllowed = "ExecNotAllowed"
	// ReasonAuthProviderNotAllowed: the user uses an auth-provider plugin.
	ReasonAuthProviderNotAllowed = "AuthProviderNotAllowed"
	// ReasonHubFileReference: the kubeconfig names a file (tokenFile, client certificate or
	// key, certificate authority), which the hub would read from its own file system.
	ReasonHubFileReference = "HubFileReference"
	// ReasonInsecureTLSNotAllowed: TLS verification is disabled, or the server is plain http.
	ReasonInsecureTLSNotAllowed = "InsecureTLSNotAllowed"
	// ReasonInvalidConfig: client-go refuses the resulting configuration.
	ReasonInvalidConfig = "InvalidConfig"
)

// KubeconfigPolicy says which risky kubeconfig features the hub accepts. The zero value
// accepts none of them, which is the secure default.
type KubeconfigPolicy struct {
	// AllowExec accepts exec credential plugins: the hub would run the named program.
	AllowExec bool
	// AllowAuthProvider accepts auth-provider plugins.
	AllowAuthProvider bool
	// AllowHubFiles accepts file references (tokenFile, client-certificate, client-key,
	// certificate-authority): the hub would read its own files.
	AllowHubFiles bool
	// AllowInsecureTLS accepts insecure-skip-tls-verify and plain http servers.
	AllowInsecureTLS bool
}

// KubeconfigError is why a kubeconfig was rejected. Its text never contains kubeconfig
// content: only the reason, and names (context, cluster, user) where they help.
type KubeconfigError struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Message explains the reason in a sentence, without secrets.
	Message string
}

func (e *KubeconfigError) Error() string {
	return fmt.Sprintf("kubeconfig rejected (%s): %s", e.Reason, e.Message)
}

func rejectf(reason, format string, args ...any) *KubeconfigError {
	return &KubeconfigError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ValidateKubeconfig parses a member kubeconfig, applies the security rules of policy to its
// current context (the only part the hub uses) and returns the rest.Config it describes.
// Errors are *KubeconfigError. Nothing outside the current context is read or checked, and
// nothing of the data appears in an error: a parse error of client-go may quote the input,
// so it is not wrapped.
func ValidateKubeconfig(data []byte, policy KubeconfigPolicy) (*rest.Config, error) {
	if len(data) == 0 {
		return nil, rejectf(ReasonParseError, "kubeconfig is empty")
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, rejectf(ReasonParseError, "kubeconfig does not parse")
	}
	if cfg.CurrentContext == "" {
		return nil, rejectf(ReasonNoCurrentContext, "kubeconfig has no current-context")
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || kctx == nil {
		return nil, rejectf(ReasonContextNotFound, "current context %q is not defined", cfg.CurrentContext)
	}
	cluster, ok := cfg.Clusters[kctx.Cluster]
	if !ok || cluster == nil {
		return nil, rejectf(ReasonContextNotFound, "context %q names cluster %q, which is not defined", cfg.CurrentContext, kctx.Cluster)
	}
	user := &clientcmdapi.AuthInfo{}
	if kctx.AuthInfo != "" {
		user, ok = cfg.AuthInfos[kctx.AuthInfo]
		if !ok || user == nil {
			return nil, rejectf(ReasonContextNotFound, "context %q names user %q, which is not defined", cfg.CurrentContext, kctx.AuthInfo)
		}
	}
	if err := checkCluster(cluster, policy); err != nil {
		return nil, err
	}
	if err := checkUser(user, policy); err != nil {
		return nil, err
	}
	// Only the current context is kept, so that nothing else of the file can be used.
	minimal := clientcmdapi.NewConfig()
	minimal.Clusters[kctx.Cluster] = cluster
	minimal.Contexts[cfg.CurrentContext] = kctx
	if kctx.AuthInfo != "" {
		minimal.AuthInfos[kctx.AuthInfo] = user
	}
	minimal.CurrentContext = cfg.CurrentContext
	restCfg, err := clientcmd.NewNonInteractiveClientConfig(*minimal, cfg.CurrentContext, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		// client-go's validation errors name fields and entries, never their values.
		return nil, rejectf(ReasonInvalidConfig, "%v", err)
	}
	return restCfg, nil
}

func checkCluster(c *clientcmdapi.Cluster, policy KubeconfigPolicy) error {
	if c.Server == "" {
		return rejectf(ReasonNoServer, "cluster has no server")
	}
	u, err := url.Parse(c.Server)
	if err != nil || u.Host == "" {
		return rejectf(ReasonNoServer, "cluster server is not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !policy.AllowInsecureTLS {
			return rejectf(ReasonInsecureTLSNotAllowed, "cluster server is plain http")
		}
	default:
		return rejectf(ReasonNoServer, "cluster server scheme %q is not https", u.Scheme)
	}
	if c.InsecureSkipTLSVerify && !policy.AllowInsecureTLS {
		return rejectf(ReasonInsecureTLSNotAllowed, "cluster sets insecure-skip-tls-verify")
	}
	if c.CertificateAuthority != "" && !policy.AllowHubFiles {
		return rejectf(ReasonHubFileReference, "cluster names a certificate-authority file")
	}
	return nil
}

func checkUser(u *clientcmdapi.AuthInfo, policy KubeconfigPolicy) error {
	if u.Exec != nil && !policy.AllowExec {
		return rejectf(ReasonExecNotAllowed, "user runs an exec credential plugin")
	}
	if u.AuthProvider != nil && !policy.AllowAuthProvider {
		return rejectf(ReasonAuthProviderNotAllowed, "user uses an auth-provider plugin")
	}
	if !policy.AllowHubFiles {
		switch {
		case u.TokenFile != "":
			return rejectf(ReasonHubFileReference, "user names a tokenFile")
		case u.ClientCertificate != "":
			return rejectf(ReasonHubFileReference, "user names a client-certificate file")
		case u.ClientKey != "":
			return rejectf(ReasonHubFileReference, "user names a client-key file")
		}
	}
	return nil
}
