package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of an ObsykAgent. Ready is the summary; the other four are the detail
// behind it, in the order the agent needs them.
const (
	ConditionReady             = "Ready"
	ConditionClusterConnected  = "ClusterConnected"
	ConditionCredentialsValid  = "CredentialsValid"
	ConditionPlatformReachable = "PlatformReachable"
	ConditionSnapshotAccepted  = "SnapshotAccepted"
)

// detailConditions are the conditions Ready summarises, in order: Ready's reason and
// message are those of the first one that is not True.
var detailConditions = []string{
	ConditionClusterConnected, ConditionCredentialsValid,
	ConditionPlatformReachable, ConditionSnapshotAccepted,
}

// Condition reasons. Each False or Unknown reason names what to do in its message.
const (
	ReasonStreaming = "Streaming" // Ready: snapshot accepted, changes and heartbeats flowing

	// Spec and binding.
	ReasonInvalidSpec         = "InvalidSpec"
	ReasonInsecurePlatformURL = "InsecurePlatformURL"
	ReasonDuplicateTarget     = "DuplicateTarget"
	ReasonNotBound            = "NotBound"

	// ClusterConnected.
	ReasonConnected          = "Connected"
	ReasonClusterNotFound    = "ClusterNotFound"
	ReasonNotEntitled        = "NotEntitled"
	ReasonKubeconfigRejected = "KubeconfigRejected"
	ReasonClusterUnreachable = "ClusterUnreachable"

	// CredentialsValid.
	ReasonCredentialsAccepted = "CredentialsAccepted"
	ReasonCredentialsUnused   = "NotYetUsed"
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonSecretMissingKeys   = "SecretMissingKeys"
	ReasonInvalidCredentials  = "InvalidCredentials"
	// The token endpoint's refusals keep auth's reasons: InvalidClientID,
	// InvalidPrivateKey, CredentialsRejected.

	// PlatformReachable.
	ReasonReachable           = "Reachable"
	ReasonNotYetContacted     = "NotYetContacted"
	ReasonPlatformUnavailable = "PlatformUnavailable"

	// SnapshotAccepted.
	ReasonSnapshotAccepted = "Accepted"
	ReasonWaitingForSync   = "WaitingForClusterSync"
	ReasonSnapshotFailed   = "SnapshotFailed"
)

// conditionSet builds an agent's conditions on top of the ones it has, so that
// lastTransitionTime changes only when a condition's status does (meta.SetStatusCondition).
type conditionSet struct {
	conds      []metav1.Condition
	generation int64
}

func newConditionSet(existing []metav1.Condition, generation int64) *conditionSet {
	c := &conditionSet{generation: generation}
	for _, e := range existing {
		c.conds = append(c.conds, *e.DeepCopy())
	}
	return c
}

func (c *conditionSet) set(typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&c.conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: c.generation,
	})
}

func (c *conditionSet) get(typ string) *metav1.Condition {
	return meta.FindStatusCondition(c.conds, typ)
}

// summarise sets Ready from the detail conditions: True when all are True, otherwise the
// first one that is not, with its reason and message.
func (c *conditionSet) summarise() {
	for _, typ := range detailConditions {
		d := c.get(typ)
		if d == nil {
			c.set(ConditionReady, metav1.ConditionFalse, ReasonNotBound, "the agent has not been evaluated yet")
			return
		}
		if d.Status != metav1.ConditionTrue {
			c.set(ConditionReady, metav1.ConditionFalse, d.Reason, typ+": "+d.Message)
			return
		}
	}
	c.set(ConditionReady, metav1.ConditionTrue, ReasonStreaming,
		"the snapshot was accepted; changes and heartbeats are flowing")
}

// reject marks the agent not bound: one detail condition carries the reason (or none, when
// the problem is the spec as a whole), the others become Unknown, and Ready says why.
func (c *conditionSet) reject(failed, reason, message string) {
	for _, typ := range detailConditions {
		if typ == failed {
			c.set(typ, metav1.ConditionFalse, reason, message)
			continue
		}
		c.set(typ, metav1.ConditionUnknown, ReasonNotBound, "not evaluated: the agent is not bound ("+reason+")")
	}
	c.set(ConditionReady, metav1.ConditionFalse, reason, message)
}
