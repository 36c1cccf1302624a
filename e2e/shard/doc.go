// Package shard tests the hub's sharding across replicas (--sharding): hub replicas run as
// processes, each dialling the platform simulator from its own loopback address so that
// the simulator's request log tells them apart, against one hub control plane and nine
// members. It checks balance, minimal movement when a replica joins, takeover after a
// SIGKILL within the bound, and that no cluster is ever sent by two replicas at once.
//
//	go test -race -count=1 -v ./e2e/shard/
package shard
