package cli

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Env is what a command may use of the world around it. Tests build one
// with fakes; SystemEnv returns the real one.
type Env struct {
	IO          *IOStreams
	LookupEnv   func(string) (string, bool)
	Getwd       func() (string, error)
	UserHomeDir func() (string, error)
	Log         *slog.Logger
}

// SystemEnv returns the process's environment, with JSON logs on stderr at
// the level named by BOT_BOTTLE_LOG_LEVEL (default warn).
func SystemEnv() *Env {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("BOT_BOTTLE_LOG_LEVEL"))); err != nil {
		level = slog.LevelWarn
	}
	return &Env{
		IO:          SystemIO(),
		LookupEnv:   os.LookupEnv,
		Getwd:       os.Getwd,
		UserHomeDir: os.UserHomeDir,
		Log:         slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// Home returns the bot-bottle home: $BOT_BOTTLE_HOME, else ~/.bot-bottle.
func (e *Env) Home() (string, error) {
	if h, ok := e.LookupEnv("BOT_BOTTLE_HOME"); ok && strings.TrimSpace(h) != "" {
		return filepath.Abs(h)
	}
	uh, err := e.UserHomeDir()
	if err != nil || uh == "" {
		return "", errors.New("no home directory found: set BOT_BOTTLE_HOME to the folder that holds your bottles and agents")
	}
	return filepath.Join(uh, ".bot-bottle"), nil
}
