package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// phaseFleet measures measurement 6 on a fleet of its own: fleetMembers fresh members (with
// the watch cache, a few objects of every kind each) registered at once with a running hub,
// until every agent is Ready with its snapshot accepted; then a restart of the hub with all
// of them registered.
func (e *env) phaseFleet(ctx context.Context) error {
	sec := e.newSection("6. Fleet start")
	defer sec.end()
	// The main fleet is done with: free its memory and CPU first.
	if e.hub != nil {
		if _, err := e.hub.stop(); err != nil {
			return err
		}
		e.hub = nil
	}
	if e.fe != nil {
		if err := e.fe.stop(); err != nil {
			return fmt.Errorf("stop the main fleet: %w", err)
		}
		e.fe = nil
	}
	n := e.o.sz.fleetMembers
	t := time.Now()
	fe, err := e.startFleetEnv(ctx, n, false, "fs-")
	e.fe = fe
	if err != nil {
		return fmt.Errorf("start a fleet of %d members: %w", n, err)
	}
	fleetUp := time.Since(t)
	e.progress("fleet start: hub + %d members up in %s; seeding them", n, secs(fleetUp))
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range fe.members {
		g.Go(func() error {
			_, err := workload.Seed(gctx, m.bulk, 2, workload.Options{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("seed the members: %w", err)
	}
	if err := e.credentials(ctx, fe.hub); err != nil {
		return err
	}
	h, err := e.startHub(ctx, "fleet")
	if err != nil {
		return err
	}
	e.hub = h
	if err := sleep(ctx, 3*time.Second); err != nil { // the hub is up and idle
		return err
	}

	// All at once: `cluster add` for every member and every ObsykAgent.
	t0 := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	var regTook time.Duration
	g.Go(func() error {
		var err error
		regTook, err = e.register(gctx, fe.members)
		return err
	})
	for _, m := range fe.members {
		g.Go(func() error { return e.createAgent(gctx, fe.hub, m, liftedRate) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	registered := time.Since(t0)
	readyAt := map[string]time.Duration{}
	deadline := t0.Add(3 * time.Minute)
	for len(readyAt) < n {
		ready, err := agentsReady(ctx, fe.hub, fe.members)
		if err == nil {
			for name, ok := range ready {
				if _, seen := readyAt[name]; ok && !seen {
					readyAt[name] = time.Since(t0)
				}
			}
		}
		if err := h.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	var first, last time.Duration = -1, 0
	for _, d := range readyAt {
		if first < 0 || d < first {
			first = d
		}
		last = max(last, d)
	}
	allReady := len(readyAt) == n
	e.progress("fleet start: %d/%d agents Ready; registration took %s, the last Ready %s after it began", len(readyAt), n, secs(regTook), secs(last))

	// A restart of the hub with the whole fleet registered.
	took, err := h.stop()
	e.hub = nil
	if err != nil {
		return err
	}
	h2, err := e.startHub(ctx, "fleet-restart")
	if err != nil {
		return err
	}
	e.hub = h2
	got, err := e.waitSnapshots(ctx, h2, fe.hub, fe.members, h2.started, 3*time.Minute)
	if err != nil {
		return err
	}
	var restartLast time.Duration
	for _, at := range got {
		restartLast = max(restartLast, at.Sub(h2.started))
	}
	if err := e.waitReady(ctx, fe.hub, fe.members, time.Minute); err != nil {
		return err
	}
	restartReady := time.Since(h2.started)

	sec.printf("A fleet of its own: a hub control plane and %d fresh members (kube-apiserver with its watch cache; up in %s), each seeded with 2 objects of every contract kind. A hub process runs with nothing registered. ", n, secs(fleetUp))
	sec.printf("Then, at once, `obsyk-hub cluster add` runs for every member (%d processes in parallel) and one ObsykAgent per member is created; the clock runs until every agent's status is Ready with `lastSnapshotTime` set (polled every 100 ms).\n\n", n)
	sec.printf("| figure | value |\n|---|---|\n")
	sec.printf("| `cluster add` ×%d, in parallel (includes the CLI's 5 s wait for a legacy token Secret that these control planes never fill in) | %s |\n", n, secs(regTook))
	sec.printf("| registration and agents created | %s |\n", secs(registered))
	sec.printf("| first agent Ready | %s |\n", secs(first))
	sec.printf("| **every agent Ready with its snapshot accepted** | **%s** (%d of %d) |\n", secs(last), len(readyAt), n)
	sec.printf("| hub stopped (SIGTERM) | %s |\n", secs(took))
	sec.printf("| restart with all %d registered: process start → every snapshot accepted | %s |\n", n, secs(restartLast))
	sec.printf("| restart: process start → every agent Ready (status polled) | %s |\n", secs(restartReady))

	measured := fmt.Sprintf("%s (%d of %d Ready); hub restart: %s", secs(last), len(readyAt), n, secs(restartLast))
	if !allReady {
		measured = fmt.Sprintf("only %d of %d Ready within 3 min", len(readyAt), n)
	}
	e.rep.add(6, fmt.Sprintf("fleet start: %d members registered at once → every agent Ready", n), "≤ 60 s", measured,
		verdict(allReady && last <= 60*time.Second && n >= 10))
	if n < 10 {
		e.rep.rows[len(e.rep.rows)-1].verdict = ""
		e.rep.rows[len(e.rep.rows)-1].target = "≤ 60 s for 10 members"
	} else if !allReady || last > 60*time.Second {
		sec.printf("\n**Target missed.** %d of %d agents were Ready within 3 minutes; the hub's log (`e2e/bench/out/hub-fleet.log`) has each cluster's connection and each agent's binding and snapshot.%s\n", len(readyAt), n, agentStates(ctx, fe.hub, fe.members))
	}
	return nil
}
