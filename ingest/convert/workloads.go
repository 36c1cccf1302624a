package convert

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/obsyk/obsyk-hub/transport"
)

// Deployment returns the record of a Deployment (contract §4.5): replicas default to 1, the
// selector is matchLabels only and the image is the first container's.
func Deployment(o *appsv1.Deployment) *transport.DeploymentInfo {
	return &transport.DeploymentInfo{
		UID:               string(o.UID),
		Name:              o.Name,
		Namespace:         o.Namespace,
		Labels:            nonEmpty(o.Labels),
		Annotations:       FilterAnnotations(o.Annotations),
		Replicas:          int32Or1(o.Spec.Replicas),
		ReadyReplicas:     o.Status.ReadyReplicas,
		AvailableReplicas: o.Status.AvailableReplicas,
		UpdatedReplicas:   o.Status.UpdatedReplicas,
		Strategy:          string(o.Spec.Strategy.Type),
		Selector:          matchLabels(o.Spec.Selector),
		Image:             firstImage(&o.Spec.Template),
		CreatedAt:         ts(o.CreationTimestamp),
	}
}

// StatefulSet returns the record of a StatefulSet (contract §4.6).
func StatefulSet(o *appsv1.StatefulSet) *transport.StatefulSetInfo {
	return &transport.StatefulSetInfo{
		UID:             string(o.UID),
		Name:            o.Name,
		Namespace:       o.Namespace,
		Labels:          nonEmpty(o.Labels),
		Annotations:     FilterAnnotations(o.Annotations),
		Replicas:        int32Or1(o.Spec.Replicas),
		ReadyReplicas:   o.Status.ReadyReplicas,
		CurrentReplicas: o.Status.CurrentReplicas,
		UpdateStrategy:  string(o.Spec.UpdateStrategy.Type),
		ServiceName:     o.Spec.ServiceName,
		Selector:        matchLabels(o.Spec.Selector),
		Image:           firstImage(&o.Spec.Template),
		CreatedAt:       ts(o.CreationTimestamp),
	}
}

// DaemonSet returns the record of a DaemonSet (contract §4.7).
func DaemonSet(o *appsv1.DaemonSet) *transport.DaemonSetInfo {
	return &transport.DaemonSetInfo{
		UID:                    string(o.UID),
		Name:                   o.Name,
		Namespace:              o.Namespace,
		Labels:                 nonEmpty(o.Labels),
		Annotations:            FilterAnnotations(o.Annotations),
		DesiredNumberScheduled: o.Status.DesiredNumberScheduled,
		CurrentNumberScheduled: o.Status.CurrentNumberScheduled,
		NumberReady:            o.Status.NumberReady,
		NumberAvailable:        o.Status.NumberAvailable,
		UpdateStrategy:         string(o.Spec.UpdateStrategy.Type),
		Selector:               matchLabels(o.Spec.Selector),
		NodeSelector:           nonEmpty(o.Spec.Template.Spec.NodeSelector),
		Image:                  firstImage(&o.Spec.Template),
		CreatedAt:              ts(o.CreationTimestamp),
	}
}

// Job returns the record of a Job (contract §4.8): completions and parallelism default to 1,
// and owner_ref is the name of the first owner whose kind is CronJob.
func Job(o *batchv1.Job) *transport.JobInfo {
	r := &transport.JobInfo{
		UID:            string(o.UID),
		Name:           o.Name,
		Namespace:      o.Namespace,
		Labels:         nonEmpty(o.Labels),
		Annotations:    FilterAnnotations(o.Annotations),
		Completions:    int32Or1(o.Spec.Completions),
		Parallelism:    int32Or1(o.Spec.Parallelism),
		Succeeded:      o.Status.Succeeded,
		Failed:         o.Status.Failed,
		Active:         o.Status.Active,
		StartTime:      tsPtr(o.Status.StartTime),
		CompletionTime: tsPtr(o.Status.CompletionTime),
		CreatedAt:      ts(o.CreationTimestamp),
	}
	for i := range o.OwnerReferences {
		if ref := &o.OwnerReferences[i]; ref.Kind == "CronJob" {
			r.OwnerRef = ref.Name
			break
		}
	}
	return r
}

// CronJob returns the record of a CronJob (contract §4.9); active_jobs is the number of
// active Jobs.
func CronJob(o *batchv1.CronJob) *transport.CronJobInfo {
	return &transport.CronJobInfo{
		UID:               string(o.UID),
		Name:              o.Name,
		Namespace:         o.Namespace,
		Labels:            nonEmpty(o.Labels),
		Annotations:       FilterAnnotations(o.Annotations),
		Schedule:          o.Spec.Schedule,
		Suspend:           boolValue(o.Spec.Suspend),
		ConcurrencyPolicy: string(o.Spec.ConcurrencyPolicy),
		LastScheduleTime:  tsPtr(o.Status.LastScheduleTime),
		ActiveJobs:        int32(len(o.Status.Active)),
		CreatedAt:         ts(o.CreationTimestamp),
	}
}
