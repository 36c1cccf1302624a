package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/auth"
	"github.com/obsyk/obsyk-hub/ingest"
	"github.com/obsyk/obsyk-hub/transport"
)

func TestParseSpec(t *testing.T) {
	collected := map[transport.Kind]bool{}
	for _, k := range ingest.DefaultKinds {
		collected[k] = true
	}
	base := func() *obsykv1.ObsykAgent {
		return &obsykv1.ObsykAgent{Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: "https://api.obsyk.example", ClusterName: "prod",
			CredentialsSecretRef: obsykv1.SecretReference{Name: "creds"},
		}}
	}
	cases := []struct {
		name       string
		edit       func(a *obsykv1.ObsykAgent)
		allowHTTP  bool
		wantReason string
		check      func(g Gomega, s *spec)
	}{
		{name: "a reference manifest gets the reference defaults and streams the hub's own cluster", edit: func(*obsykv1.ObsykAgent) {},
			check: func(g Gomega, s *spec) {
				g.Expect(s.local).To(BeTrue())
				g.Expect(s.cluster).To(Equal(LocalClusterName))
				g.Expect(s.heartbeat).To(Equal(DefaultHeartbeatInterval))
				g.Expect(s.eventsPerSec).To(Equal(10.0))
				g.Expect(s.burst).To(Equal(20))
				g.Expect(s.resync).To(BeZero(), "ingest's default")
			}},
		{name: "an http URL is refused unless allowed", edit: func(a *obsykv1.ObsykAgent) { a.Spec.PlatformURL = "http://p.example" },
			wantReason: ReasonInsecurePlatformURL},
		{name: "an http URL is accepted when allowed", edit: func(a *obsykv1.ObsykAgent) { a.Spec.PlatformURL = "http://p.example" }, allowHTTP: true},
		{name: "a URL without a host is invalid", edit: func(a *obsykv1.ObsykAgent) { a.Spec.PlatformURL = "https://" }, wantReason: ReasonInvalidSpec},
		{name: "a heartbeat faster than 5s is invalid", edit: func(a *obsykv1.ObsykAgent) { a.Spec.SyncInterval = "1s" }, wantReason: ReasonInvalidSpec},
		{name: "resyncInterval 0s turns the anti-entropy snapshot off", edit: func(a *obsykv1.ObsykAgent) { a.Spec.ResyncInterval = "0s" },
			check: func(g Gomega, s *spec) { g.Expect(s.resync).To(BeNumerically("<", 0)) }},
		{name: "a resyncInterval under a minute is invalid", edit: func(a *obsykv1.ObsykAgent) { a.Spec.ResyncInterval = "30s" }, wantReason: ReasonInvalidSpec},
		{name: "Secret is dropped and flagged when the hub does not collect it",
			edit: func(a *obsykv1.ObsykAgent) { a.Spec.Kinds = []obsykv1.Kind{"Pod", "Secret"} },
			check: func(g Gomega, s *spec) {
				g.Expect(s.kinds).To(Equal([]transport.Kind{transport.KindPod}))
				g.Expect(s.secretsIgnored).To(BeTrue())
			}},
		{name: "only Secret, not collected, is invalid", edit: func(a *obsykv1.ObsykAgent) { a.Spec.Kinds = []obsykv1.Kind{"Secret"} }, wantReason: ReasonInvalidSpec},
		{name: "a cluster reference targets that member", edit: func(a *obsykv1.ObsykAgent) { a.Spec.ClusterRef = &obsykv1.ClusterReference{Name: "eu"} },
			check: func(g Gomega, s *spec) {
				g.Expect(s.local).To(BeFalse())
				g.Expect(s.cluster).To(Equal("eu"))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := base()
			tc.edit(a)
			s, err := parseSpec(a, tc.allowHTTP, collected)
			if tc.wantReason != "" {
				g.Expect(err).NotTo(BeNil())
				g.Expect(err.reason).To(Equal(tc.wantReason))
				g.Expect(err.message).NotTo(BeEmpty())
				return
			}
			g.Expect(err).To(BeNil())
			if tc.check != nil {
				tc.check(g, s)
			}
		})
	}
}

func TestFingerprintChangesWithWhatNeedsANewBinding(t *testing.T) {
	g := NewWithT(t)
	a := &obsykv1.ObsykAgent{Spec: obsykv1.ObsykAgentSpec{
		PlatformURL: "https://a.example", ClusterName: "c", CredentialsSecretRef: obsykv1.SecretReference{Name: "s"},
	}}
	s, _ := parseSpec(a, false, nil)
	fp := s.fingerprint("creds1", "uid1")
	g.Expect(s.fingerprint("creds1", "uid1")).To(Equal(fp))
	g.Expect(s.fingerprint("creds2", "uid1")).NotTo(Equal(fp), "rotated credentials")
	g.Expect(s.fingerprint("creds1", "uid2")).NotTo(Equal(fp), "a re-created cluster")
	a.Spec.SyncInterval = "30s"
	s2, _ := parseSpec(a, false, nil)
	g.Expect(s2.fingerprint("creds1", "uid1")).To(Equal(fp), "the heartbeat period restarts only the lane")
	a.Spec.Namespaces = &obsykv1.NamespaceFilter{Exclude: []string{"x"}}
	s3, _ := parseSpec(a, false, nil)
	g.Expect(s3.fingerprint("creds1", "uid1")).NotTo(Equal(fp))
}

func TestConditionsKeepTheirTransitionTimeAndSummarise(t *testing.T) {
	g := NewWithT(t)
	c := newConditionSet(nil, 1)
	c.set(ConditionClusterConnected, metav1.ConditionTrue, ReasonConnected, "ok")
	c.set(ConditionCredentialsValid, metav1.ConditionTrue, ReasonCredentialsAccepted, "ok")
	c.set(ConditionPlatformReachable, metav1.ConditionFalse, ReasonPlatformUnavailable, "503")
	c.set(ConditionSnapshotAccepted, metav1.ConditionTrue, ReasonSnapshotAccepted, "ok")
	c.summarise()
	ready := *c.get(ConditionReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(ReasonPlatformUnavailable))

	old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	for i := range c.conds {
		c.conds[i].LastTransitionTime = old
	}
	next := newConditionSet(c.conds, 2)
	next.set(ConditionPlatformReachable, metav1.ConditionFalse, ReasonPlatformUnavailable, "timeout") // same status, new message
	next.set(ConditionClusterConnected, metav1.ConditionTrue, ReasonConnected, "ok")
	g.Expect(next.get(ConditionPlatformReachable).LastTransitionTime).To(Equal(old), "no transition, no new time")
	g.Expect(next.get(ConditionPlatformReachable).Message).To(Equal("timeout"))
	next.set(ConditionPlatformReachable, metav1.ConditionTrue, ReasonReachable, "ok")
	g.Expect(next.get(ConditionPlatformReachable).LastTransitionTime).NotTo(Equal(old))
	next.summarise()
	g.Expect(next.get(ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(next.get(ConditionReady).ObservedGeneration).To(BeEquivalentTo(2))
}

// fakePlatform answers every send with err.
type fakePlatform struct{ err error }

func (f *fakePlatform) SendSnapshot(context.Context, *transport.SnapshotPayload) error { return f.err }
func (f *fakePlatform) SendEvent(context.Context, *transport.EventPayload) error       { return f.err }
func (f *fakePlatform) SendHeartbeat(context.Context, *transport.HeartbeatPayload) error {
	return f.err
}

func TestObserverClassifiesThePlatformsAnswers(t *testing.T) {
	g := NewWithT(t)
	fp := &fakePlatform{}
	notified := 0
	o := newObserver(fp, func() { notified++ })
	ctx := context.Background()

	fp.err = &transport.TemporaryError{Endpoint: "snapshot", Err: errors.New("503")}
	_ = o.SendSnapshot(ctx, &transport.SnapshotPayload{})
	g.Expect(o.get().platformErr).NotTo(BeEmpty())
	g.Expect(o.ready).NotTo(BeClosed())

	fp.err = &transport.PermanentError{Endpoint: "events", Err: &auth.CredentialError{Reason: auth.ReasonCredentialsRejected, Message: "no"}}
	_ = o.SendEvent(ctx, &transport.EventPayload{})
	g.Expect(o.get().credErr).NotTo(BeNil(), "a credential refusal is seen through the transport's wrapping")
	g.Expect(o.get().credErr.Reason).To(Equal(auth.ReasonCredentialsRejected))

	fp.err = &transport.PermanentError{Endpoint: "events", StatusCode: 400, Err: errors.New("bad record")}
	_ = o.SendEvent(ctx, &transport.EventPayload{})
	g.Expect(o.get().snapshotErr).To(BeEmpty(), "one poison event says nothing about the agent")

	fp.err = nil
	_ = o.SendSnapshot(ctx, &transport.SnapshotPayload{ClusterUID: "u", Pods: []*transport.PodInfo{{}, {}}})
	ob := o.get()
	g.Expect(ob.credErr).To(BeNil())
	g.Expect(ob.platformErr).To(BeEmpty())
	g.Expect(ob.snapshotUID).To(Equal("u"))
	g.Expect(ob.snapshotCount).To(Equal(2))
	g.Expect(o.ready).To(BeClosed())

	before := notified
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	fp.err = context.Canceled
	_ = o.SendEvent(cancelled, &transport.EventPayload{})
	g.Expect(o.get().platformErr).To(BeEmpty(), "a send cancelled by the hub is not a platform failure")
	g.Expect(notified).To(Equal(before))
}

func TestTheHubsLoggerNeverEnablesClientGosBodyLogging(t *testing.T) {
	g := NewWithT(t)
	var sink recordingSink
	log := capVerbosity(logr.New(&sink), MaxLogVerbosity)
	g.Expect(log.V(7).Enabled()).To(BeTrue())
	g.Expect(log.V(8).Enabled()).To(BeFalse(), "client-go logs request and response bodies at V(8)")
	g.Expect(log.WithName("x").WithValues("k", "v").V(8).Enabled()).To(BeFalse(), "derived loggers keep the cap")
	log.V(9).Info("body")
	log.V(1).Info("kept")
	g.Expect(sink.msgs).To(Equal([]string{"kept"}))
}

// recordingSink enables every level and records messages.
type recordingSink struct{ msgs []string }

func (s *recordingSink) Init(logr.RuntimeInfo)            {}
func (s *recordingSink) Enabled(int) bool                 { return true }
func (s *recordingSink) Info(_ int, msg string, _ ...any) { s.msgs = append(s.msgs, msg) }
func (s *recordingSink) Error(error, string, ...any)      {}
func (s *recordingSink) WithValues(...any) logr.LogSink   { return s }
func (s *recordingSink) WithName(string) logr.LogSink     { return s }
