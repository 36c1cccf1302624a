package ingest

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestDrainContextOutlivesItsParentByTheGraceOnly(t *testing.T) {
	g := NewWithT(t)
	parent, stop := context.WithCancel(context.Background())
	d, release := drainContext(parent, 300*time.Millisecond)
	defer release()
	stop()
	g.Consistently(d.Done()).WithTimeout(100*time.Millisecond).ShouldNot(BeClosed(), "a send in flight may go on after the stop")
	g.Eventually(d.Done()).WithTimeout(5*time.Second).Should(BeClosed(), "but not past the grace")
}

func TestDrainContextEndsWhenTheSendIsDone(t *testing.T) {
	g := NewWithT(t)
	parent, stop := context.WithCancel(context.Background())
	defer stop()
	d, release := drainContext(parent, time.Hour)
	g.Expect(d.Err()).NotTo(HaveOccurred())
	release()
	g.Expect(d.Err()).To(MatchError(context.Canceled))
}

func TestDrainContextWithoutGraceIsTheParent(t *testing.T) {
	g := NewWithT(t)
	parent, stop := context.WithCancel(context.Background())
	d, release := drainContext(parent, 0)
	defer release()
	stop()
	g.Expect(d.Err()).To(MatchError(context.Canceled))
}
