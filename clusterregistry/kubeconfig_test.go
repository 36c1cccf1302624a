package clusterregistry_test

import (
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/obsyk/obsyk-hub/clusterregistry"
)

const testToken = "s3cr3t-token-value"

// goodKubeconfig is a kubeconfig as Register writes it: inline CA, bearer token.
func goodKubeconfig() *clientcmdapi.Config {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["member"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("not-a-real-ca")}
	kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{Token: testToken}
	kc.Contexts["member"] = &clientcmdapi.Context{Cluster: "member", AuthInfo: "reader"}
	kc.CurrentContext = "member"
	return kc
}

func write(t *testing.T, kc *clientcmdapi.Config) []byte {
	t.Helper()
	data, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return data
}

func TestValidateKubeconfig(t *testing.T) {
	tests := []struct {
		name       string
		data       func(t *testing.T) []byte
		policy     clusterregistry.KubeconfigPolicy
		wantReason string // empty: accepted
	}{
		{"a kubeconfig with an inline CA and a token is accepted", func(t *testing.T) []byte { return write(t, goodKubeconfig()) }, clusterregistry.KubeconfigPolicy{}, ""},
		{"empty data is a parse error", func(*testing.T) []byte { return nil }, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonParseError},
		{"data that is not yaml is a parse error", func(*testing.T) []byte { return []byte("token: " + testToken + "\n\t: [") }, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonParseError},
		{"a kubeconfig without a current context is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.CurrentContext = ""
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonNoCurrentContext},
		{"a current context that is not defined is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.CurrentContext = "elsewhere"
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonContextNotFound},
		{"a context whose cluster is not defined is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Contexts["member"].Cluster = "missing"
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonContextNotFound},
		{"a context whose user is not defined is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Contexts["member"].AuthInfo = "missing"
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonContextNotFound},
		{"a cluster without a server is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Clusters["member"].Server = ""
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonNoServer},
		{"an exec plugin is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonExecNotAllowed},
		{"an exec plugin is accepted when the hub allows exec", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "/bin/true", APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{AllowExec: true}, ""},
		{"an auth provider is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc"}}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonAuthProviderNotAllowed},
		{"a token file is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonHubFileReference},
		{"a client certificate file is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{ClientCertificate: "/etc/hub/tls.crt", ClientKeyData: []byte("key")}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonHubFileReference},
		{"a client key file is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["reader"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKey: "/etc/hub/tls.key"}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonHubFileReference},
		{"a certificate authority file is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Clusters["member"].CertificateAuthorityData = nil
			kc.Clusters["member"].CertificateAuthority = "/etc/hub/ca.crt"
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonHubFileReference},
		{"disabled TLS verification is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Clusters["member"].CertificateAuthorityData = nil
			kc.Clusters["member"].InsecureSkipTLSVerify = true
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonInsecureTLSNotAllowed},
		{"a plain http server is refused", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Clusters["member"].Server = "http://127.0.0.1:8080"
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, clusterregistry.ReasonInsecureTLSNotAllowed},
		{"disabled TLS verification is accepted when the hub allows insecure TLS", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.Clusters["member"].CertificateAuthorityData = nil
			kc.Clusters["member"].InsecureSkipTLSVerify = true
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{AllowInsecureTLS: true}, ""},
		{"an exec plugin in a context that is not current is not looked at", func(t *testing.T) []byte {
			kc := goodKubeconfig()
			kc.AuthInfos["other"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "/bin/sh"}}
			kc.Contexts["other"] = &clientcmdapi.Context{Cluster: "member", AuthInfo: "other"}
			return write(t, kc)
		}, clusterregistry.KubeconfigPolicy{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cfg, err := clusterregistry.ValidateKubeconfig(tc.data(t), tc.policy)
			if tc.wantReason == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(cfg.Host).NotTo(BeEmpty())
				return
			}
			g.Expect(cfg).To(BeNil())
			var kerr *clusterregistry.KubeconfigError
			g.Expect(errors.As(err, &kerr)).To(BeTrue(), "error %v is not a *KubeconfigError", err)
			g.Expect(kerr.Reason).To(Equal(tc.wantReason))
			g.Expect(err.Error()).To(ContainSubstring(tc.wantReason))
			g.Expect(strings.Contains(err.Error(), testToken)).To(BeFalse(), "the error must not quote the token")
		})
	}
}

func TestEntitled(t *testing.T) {
	const hubNS = "obsyk-system"
	tests := []struct {
		name           string
		agentNamespace string
		annotations    map[string]string
		want           bool
	}{
		{"an agent in the hub namespace may target any cluster", hubNS, nil, true},
		{"an agent elsewhere may not target a cluster without the annotation", "team-a", nil, false},
		{"an agent in a listed namespace may target the cluster", "team-a", map[string]string{clusterregistry.AllowedNamespacesAnnotation: "team-a,team-b"}, true},
		{"listed namespaces may carry spaces", "team-b", map[string]string{clusterregistry.AllowedNamespacesAnnotation: "team-a, team-b "}, true},
		{"an agent in an unlisted namespace may not target the cluster", "team-c", map[string]string{clusterregistry.AllowedNamespacesAnnotation: "team-a,team-b"}, false},
		{"a prefix of a listed namespace is not entitled", "team", map[string]string{clusterregistry.AllowedNamespacesAnnotation: "team-a"}, false},
		{"a star is not a wildcard", "team-a", map[string]string{clusterregistry.AllowedNamespacesAnnotation: "*"}, false},
		{"an empty agent namespace is never entitled, even with an empty list entry", "", map[string]string{clusterregistry.AllowedNamespacesAnnotation: "team-a,,"}, false},
		{"other annotations grant nothing", "team-a", map[string]string{"example.com/allowed-namespaces": "team-a"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(clusterregistry.Entitled(tc.agentNamespace, hubNS, tc.annotations)).To(Equal(tc.want))
		})
	}
}
