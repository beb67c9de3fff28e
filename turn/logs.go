package turn

import (
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

type pturnLogger = logging.LeveledLogger

type pionLogger struct{ l *slog.Logger }

func (p pionLogger) Trace(string)          {}
func (p pionLogger) Tracef(string, ...any) {}
func (p pionLogger) Debug(m string)        { p.l.Debug(m) }
func (p pionLogger) Debugf(f string, a ...any) {
	p.l.Debug(fmt.Sprintf(f, a...))
}
func (p pionLogger) Info(m string)             { p.l.Debug(m) }
func (p pionLogger) Infof(f string, a ...any)  { p.l.Debug(fmt.Sprintf(f, a...)) }
func (p pionLogger) Warn(m string)             { p.l.Debug(m) }
func (p pionLogger) Warnf(f string, a ...any)  { p.l.Debug(fmt.Sprintf(f, a...)) }
func (p pionLogger) Error(m string)            { p.l.Debug(m) }
func (p pionLogger) Errorf(f string, a ...any) { p.l.Debug(fmt.Sprintf(f, a...)) }
