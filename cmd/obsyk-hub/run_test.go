package main

import (
	"bytes"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/klog/v2"

	"github.com/obsyk/obsyk-hub/config"
)

func TestLoggerCapsVerbosityAndCarriesClientGosLines(t *testing.T) {
	g := NewWithT(t)
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.LogLevel = "10"
	log, err := newLogger(cfg, &buf)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(log.V(7).Enabled()).To(BeTrue())
	g.Expect(log.V(8).Enabled()).To(BeFalse(), "client-go logs request bodies at V(8)")

	klog.SetLogger(log)
	defer klog.ClearLogger()
	klog.ErrorS(errors.New("watch failed"), "Failed to watch")
	g.Expect(buf.String()).To(ContainSubstring(`"msg":"Failed to watch"`), "client-go's klog lines come out as the hub's JSON")
}
