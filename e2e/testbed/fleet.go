package testbed

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

const (
	defaultMaxParallel = 4
	// testStartTimeout bounds NewTestFleet and NewTestCluster as a whole.
	testStartTimeout = 5 * time.Minute
)

// FleetOptions configures a hub and its members. The zero value is valid: a hub alone.
type FleetOptions struct {
	// Members is the number of member clusters. Default 0.
	Members int
	// MaxParallel caps how many clusters start at once (each start takes ~2.5 s of CPU on a
	// 2-core machine, so more does not help). Default 4.
	MaxParallel int
	// Hub configures the hub cluster. Its Name defaults to "hub".
	Hub ClusterOptions
	// MemberOptions configures member i (0-based). Default nil: zero ClusterOptions. A Name
	// left empty becomes "member-<i>".
	MemberOptions func(i int) ClusterOptions
}

func (o FleetOptions) withDefaults() FleetOptions {
	if o.MaxParallel <= 0 {
		o.MaxParallel = defaultMaxParallel
	}
	if o.Hub.Name == "" {
		o.Hub.Name = "hub"
	}
	return o
}

func (o FleetOptions) member(i int) ClusterOptions {
	var opts ClusterOptions
	if o.MemberOptions != nil {
		opts = o.MemberOptions(i)
	}
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("member-%d", i)
	}
	return opts
}

// Fleet is a hub cluster and its member clusters, each an isolated control plane on
// loopback. Nothing is registered: that is clusterregistry.Register's job.
type Fleet struct {
	Hub     *Cluster
	Members []*Cluster
}

// Clusters returns the hub followed by the members.
func (f *Fleet) Clusters() []*Cluster {
	return append([]*Cluster{f.Hub}, f.Members...)
}

// StartFleet starts the hub and opts.Members members in parallel, at most opts.MaxParallel
// at a time. If any fails to start, it stops those that started and returns the error.
func StartFleet(ctx context.Context, opts FleetOptions) (*Fleet, error) {
	opts = opts.withDefaults()
	if opts.Members < 0 {
		return nil, fmt.Errorf("start fleet: negative member count %d", opts.Members)
	}
	if _, err := BinaryDir(); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	all := make([]*Cluster, 1+opts.Members)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.MaxParallel)
	for i := range all {
		clusterOpts := opts.Hub
		if i > 0 {
			clusterOpts = opts.member(i - 1)
		}
		g.Go(func() error {
			c, err := StartCluster(gctx, clusterOpts)
			all[i] = c // each goroutine writes its own index; read after Wait
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, errors.Join(fmt.Errorf("start fleet: %w", err), stopAll(all))
	}
	return &Fleet{Hub: all[0], Members: all[1:]}, nil
}

// Stop stops every cluster of the fleet, in parallel, and returns all errors.
func (f *Fleet) Stop() error {
	if err := stopAll(f.Clusters()); err != nil {
		return fmt.Errorf("stop fleet: %w", err)
	}
	return nil
}

func stopAll(clusters []*Cluster) error {
	errs := make([]error, len(clusters))
	var g errgroup.Group
	for i, c := range clusters {
		if c == nil {
			continue
		}
		g.Go(func() error {
			errs[i] = c.Stop()
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// NewTestFleet starts a fleet for a test and stops it when the test ends. It fails the test,
// never skips it, when the fleet cannot start, including when the binaries are missing.
func NewTestFleet(t testing.TB, opts FleetOptions) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testStartTimeout)
	defer cancel()
	f, err := StartFleet(ctx, opts)
	if err != nil {
		t.Fatalf("start test fleet: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("stop test fleet: %v", err)
		}
	})
	return f
}

// NewTestCluster starts one cluster for a test and stops it when the test ends; like
// NewTestFleet, it fails the test when the cluster cannot start.
func NewTestCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testStartTimeout)
	defer cancel()
	c, err := StartCluster(ctx, opts)
	if err != nil {
		t.Fatalf("start test cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop test cluster %s: %v", c.Name, err)
		}
	})
	return c
}
