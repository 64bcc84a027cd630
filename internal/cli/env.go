package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend/registry"
	"github.com/bot-bottle/bot-bottle/internal/lifecycle"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Env is what a command may use of the world around it: streams, the
// environment, the working and home directories, and a logger. Tests build
// one from fakes; SystemEnv returns the real one.
type Env struct {
	IO          *IOStreams
	LookupEnv   func(string) (string, bool)
	Getwd       func() (string, error)
	UserHomeDir func() (string, error)
	Log         *slog.Logger
	// Backends are the backends commands may use; nil means the
	// platform's (registry.Platform). Tests register a fake.
	Backends *registry.Registry
	// Operator, when set, replaces the running bottles' proposals (tests).
	Operator supervise.Operator
}

// SystemEnv returns the process's environment, with JSON logs on stderr at
// the level named by BOT_BOTTLE_LOG_LEVEL (debug, info, warn or error;
// default warn).
func SystemEnv() *Env {
	ios := SystemIO()
	return &Env{
		IO:          ios,
		LookupEnv:   os.LookupEnv,
		Getwd:       os.Getwd,
		UserHomeDir: os.UserHomeDir,
		Log:         newLogger(ios.ErrOut, os.Getenv("BOT_BOTTLE_LOG_LEVEL")),
	}
}

// newLogger returns a JSON logger writing to w at the named level. An unknown
// level is reported once, as a log record, and means warn.
func newLogger(w io.Writer, level string) *slog.Logger {
	levels := map[string]slog.Level{
		"debug": slog.LevelDebug,
		"info":  slog.LevelInfo,
		"warn":  slog.LevelWarn,
		"error": slog.LevelError,
	}
	l, known := levels[strings.ToLower(strings.TrimSpace(level))]
	if !known {
		l = slog.LevelWarn
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
	if level != "" && !known {
		log.Warn("ignoring unknown BOT_BOTTLE_LOG_LEVEL; want debug, info, warn or error", slog.String(logKeyValue, level))
	}
	return log
}

// logKeyValue is the log key of an offending value.
const logKeyValue = "value"

// Home returns the bot-bottle home: $BOT_BOTTLE_HOME when set and not empty
// (relative to the working directory), else ~/.bot-bottle.
func (e *Env) Home() (string, error) {
	if h, ok := e.LookupEnv("BOT_BOTTLE_HOME"); ok && strings.TrimSpace(h) != "" {
		if filepath.IsAbs(h) {
			return filepath.Clean(h), nil
		}
		wd, err := e.Getwd()
		if err != nil {
			return "", fmt.Errorf("resolving BOT_BOTTLE_HOME %q: %w", h, err)
		}
		return filepath.Join(wd, h), nil
	}
	uh, err := e.UserHomeDir()
	if err == nil && uh == "" {
		err = errors.New("it is empty")
	}
	if err != nil {
		return "", fmt.Errorf("finding your home directory: %w; set BOT_BOTTLE_HOME to the folder that holds your bottles and agents", err)
	}
	return filepath.Join(uh, ".bot-bottle"), nil
}

// registry returns the backends commands may use.
func (e *Env) registry() *registry.Registry {
	if e.Backends == nil {
		e.Backends = registry.Platform()
	}
	return e.Backends
}

// lifecycle returns the manager of the bottles of this home.
func (e *Env) lifecycle() (*lifecycle.Manager, error) {
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	return &lifecycle.Manager{Home: home, Backends: e.registry(), LookupEnv: e.LookupEnv, Log: e.Log, Notices: e.IO.ErrOut}, nil
}
