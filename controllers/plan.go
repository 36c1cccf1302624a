package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/transport"
)

// Reference defaults of spec fields the API server did not default (an agent created
// before the hub's CRD was installed, or a rateLimit object without its fields).
const (
	defaultEventsPerSecond = 10
	defaultBurstSize       = 20
	minSyncInterval        = 5 * time.Second
	minResyncInterval      = time.Minute
)

// spec is an agent's spec, checked and turned into the values the binding uses.
type spec struct {
	platformURL    string
	clusterName    string
	cluster        string // ingest cluster name: clusterRef.name, or LocalClusterName
	local          bool
	secretName     string
	heartbeat      time.Duration
	resync         time.Duration // negative: off
	eventsPerSec   float64
	burst          int
	kinds          []transport.Kind
	include        []string
	exclude        []string
	wantsSecrets   bool
	secretsIgnored bool // Secret listed but the hub does not collect it
}

// specError is a spec the hub refuses; reason is a condition reason.
type specError struct {
	reason, message string
}

func (e *specError) Error() string { return e.message }

// parseSpec checks an agent's spec. allowHTTP permits http:// platform URLs.
func parseSpec(a *obsykv1.ObsykAgent, allowHTTP bool, collected map[transport.Kind]bool) (*spec, *specError) {
	s := &spec{
		platformURL: a.Spec.PlatformURL,
		clusterName: a.Spec.ClusterName,
		secretName:  a.Spec.CredentialsSecretRef.Name,
	}
	u, err := url.Parse(s.platformURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, &specError{ReasonInvalidSpec, fmt.Sprintf("spec.platformURL %q is not an http(s) URL with a host", s.platformURL)}
	case u.Scheme == "http" && !allowHTTP:
		return nil, &specError{ReasonInsecurePlatformURL,
			"spec.platformURL uses http://; the hub sends tokens and cluster metadata only over https:// unless it runs with --allow-insecure-platform-http"}
	}
	if s.clusterName == "" {
		return nil, &specError{ReasonInvalidSpec, "spec.clusterName is required"}
	}
	if s.secretName == "" {
		return nil, &specError{ReasonInvalidSpec, "spec.credentialsSecretRef.name is required"}
	}
	s.heartbeat = DefaultHeartbeatInterval
	if v := a.Spec.SyncInterval; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minSyncInterval {
			return nil, &specError{ReasonInvalidSpec, fmt.Sprintf("spec.syncInterval %q must be a Go duration of at least %s", v, minSyncInterval)}
		}
		s.heartbeat = d
	}
	s.resync = 0 // ingest's default
	if v := a.Spec.ResyncInterval; v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || (d != 0 && d < minResyncInterval):
			return nil, &specError{ReasonInvalidSpec, fmt.Sprintf("spec.resyncInterval %q must be 0s (off) or a Go duration of at least %s", v, minResyncInterval)}
		case d == 0:
			s.resync = -1
		default:
			s.resync = d
		}
	}
	s.eventsPerSec, s.burst = defaultEventsPerSecond, defaultBurstSize
	if rl := a.Spec.RateLimit; rl != nil {
		if rl.EventsPerSecond > 0 {
			s.eventsPerSec = float64(rl.EventsPerSecond)
		}
		if rl.BurstSize > 0 {
			s.burst = int(rl.BurstSize)
		}
	}
	if ref := a.Spec.ClusterRef; ref != nil && ref.Name != "" {
		s.cluster = ref.Name
	} else {
		s.cluster, s.local = LocalClusterName, true
	}
	for _, k := range a.Spec.Kinds {
		tk := transport.Kind(k)
		if !tk.Valid() {
			return nil, &specError{ReasonInvalidSpec, fmt.Sprintf("spec.kinds: unknown kind %q", k)}
		}
		if tk == transport.KindSecret {
			s.wantsSecrets = true
			if !collected[tk] {
				s.secretsIgnored = true
				continue
			}
		}
		s.kinds = append(s.kinds, tk)
	}
	if len(a.Spec.Kinds) > 0 && len(s.kinds) == 0 {
		return nil, &specError{ReasonInvalidSpec, "spec.kinds lists only Secret, which this hub does not collect (start it with --collect-secrets)"}
	}
	if ns := a.Spec.Namespaces; ns != nil {
		s.include = slices.Clone(ns.Include)
		s.exclude = slices.Clone(ns.Exclude)
	}
	return s, nil
}

// target identifies where an agent sends: its cluster and platform. Two agents with the
// same target would send the same cluster to the same platform twice.
func (s *spec) target() string {
	return s.cluster + "\x00" + strings.TrimRight(s.platformURL, "/")
}

// fingerprint hashes everything whose change needs a new binding (a new outbox and a
// fresh snapshot): the platform, the credentials, the cluster and its identity, and what
// is collected. The heartbeat period is not in it: changing it restarts only the lane.
func (s *spec) fingerprint(credsHash, clusterUID string) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode([]any{
		s.platformURL, s.clusterName, s.cluster, s.resync, s.eventsPerSec, s.burst,
		s.kinds, s.include, s.exclude, credsHash, clusterUID,
	})
	return hex.EncodeToString(h.Sum(nil))
}
