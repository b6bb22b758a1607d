package arbiter

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that forwards etcd's zap log entries at or
// above a minimum level to a slog.Logger, so the embedded member and the
// client log through the process's one logger.
type slogCore struct {
	l     *slog.Logger
	min   zapcore.Level
	attrs []slog.Attr
	mute  *atomic.Bool // when set, entries are dropped (member shutting down)
}

// newZapLogger returns a zap.Logger writing to l (slog.Default when nil)
// at or above min, with component=<component>.
func newZapLogger(l *slog.Logger, min zapcore.Level, component string, mute *atomic.Bool) *zap.Logger {
	if l == nil {
		l = slog.Default()
	}
	if mute == nil {
		mute = new(atomic.Bool)
	}
	return zap.New(&slogCore{l: l.With("component", component), min: min, mute: mute})
}

func (c *slogCore) Enabled(lvl zapcore.Level) bool { return lvl >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.attrs = append(slices.Clip(c.attrs), fieldAttrs(fields)...)
	return &clone
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if c.mute.Load() {
		return nil
	}
	lvl := slog.LevelError
	switch {
	case e.Level <= zapcore.DebugLevel:
		lvl = slog.LevelDebug
	case e.Level == zapcore.InfoLevel:
		lvl = slog.LevelInfo
	case e.Level == zapcore.WarnLevel:
		lvl = slog.LevelWarn
	}
	attrs := append(slices.Clip(c.attrs), fieldAttrs(fields)...)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	c.l.LogAttrs(context.Background(), lvl, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func fieldAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	return attrs
}

// dropMessages returns a zap option that discards entries whose message
// starts with one of prefixes.
func dropMessages(prefixes []string) zap.Option {
	return zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &dropCore{Core: c, prefixes: prefixes} })
}

type dropCore struct {
	zapcore.Core
	prefixes []string
}

func (d *dropCore) With(fields []zapcore.Field) zapcore.Core {
	return &dropCore{Core: d.Core.With(fields), prefixes: d.prefixes}
}

func (d *dropCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	for _, p := range d.prefixes {
		if strings.HasPrefix(e.Message, p) {
			return ce
		}
	}
	return d.Core.Check(e, ce)
}
