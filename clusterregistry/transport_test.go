package clusterregistry

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
)

func TestMemberTransportSpeaksHTTP2WithHealthChecks(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth", r.Header.Get("Authorization"))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	tr, err := newMemberTransport(&rest.Config{Host: srv.URL, BearerToken: "t0ken", TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(tr.close)
	g.Expect(tr.transport.HTTP2).NotTo(BeNil())
	g.Expect(tr.transport.HTTP2.SendPingTimeout).To(Equal(http2ReadIdleTimeout))
	g.Expect(tr.transport.HTTP2.PingTimeout).To(Equal(http2PingTimeout))

	resp, err := tr.client.Get(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.ProtoMajor).To(Equal(2), "the member connection must use HTTP/2 for its health checks to apply")
	g.Expect(resp.Header.Get("X-Auth")).To(Equal("Bearer t0ken"), "the bearer token is still sent with the custom transport")
}

func TestMemberTransportVerifiesTheServer(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	tr, err := newMemberTransport(&rest.Config{Host: srv.URL})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(tr.close)
	_, err = tr.client.Get(srv.URL)
	g.Expect(err).To(MatchError(ContainSubstring("certificate")), "a server the kubeconfig's CA does not vouch for is refused")
}
