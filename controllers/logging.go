package controllers

import "github.com/go-logr/logr"

// MaxLogVerbosity is the highest verbosity the hub ever enables. client-go logs whole
// request and response bodies at V(8) through the logger of the request's context; those
// bodies can hold Secret data (credentials, member kubeconfigs) and ConfigMap values, which
// the hub must never log. NewHub caps its logger here, whatever level was asked for.
const MaxLogVerbosity = 7

// capVerbosity returns log with every V(n) for n > max disabled.
func capVerbosity(log logr.Logger, max int) logr.Logger {
	if log.GetSink() == nil {
		return log
	}
	return logr.New(cappedSink{LogSink: log.GetSink(), max: max})
}

// cappedSink disables the verbosity levels above max.
type cappedSink struct {
	logr.LogSink
	max int
}

func (s cappedSink) Enabled(level int) bool { return level <= s.max && s.LogSink.Enabled(level) }

func (s cappedSink) WithValues(kv ...any) logr.LogSink {
	return cappedSink{LogSink: s.LogSink.WithValues(kv...), max: s.max}
}

func (s cappedSink) WithName(name string) logr.LogSink {
	return cappedSink{LogSink: s.LogSink.WithName(name), max: s.max}
}

// WithCallDepth keeps the caller's location right when the wrapped sink reports it.
func (s cappedSink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return cappedSink{LogSink: cd.WithCallDepth(depth), max: s.max}
	}
	return s
}
