package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestHomeFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  string // BOT_BOTTLE_HOME; "-" leaves it unset
		want string
	}{
		{"unset", "-", "/home/u/.bot-bottle"},
		{"empty", "", "/home/u/.bot-bottle"},
		{"blank", "  ", "/home/u/.bot-bottle"},
		{"absolute", "/srv/bb/", "/srv/bb"},
		{"unclean", "/srv/x/../bb", "/srv/bb"},
		{"relative", "bb", "/work/dir/bb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &Env{
				LookupEnv: func(k string) (string, bool) {
					if k != "BOT_BOTTLE_HOME" || tt.env == "-" {
						return "", false
					}
					return tt.env, true
				},
				Getwd:       func() (string, error) { return "/work/dir", nil },
				UserHomeDir: func() (string, error) { return "/home/u", nil },
			}
			got, err := env.Home()
			if err != nil || got != tt.want {
				t.Errorf("Home() with BOT_BOTTLE_HOME=%q = %q, %v; want %q", tt.env, got, err, tt.want)
			}
		})
	}
}

func TestHomeMissing(t *testing.T) {
	for _, uhErr := range []error{errors.New("$HOME is not defined"), nil} {
		env := &Env{
			LookupEnv:   func(string) (string, bool) { return "", false },
			UserHomeDir: func() (string, error) { return "", uhErr },
		}
		_, err := env.Home()
		if err == nil || !strings.Contains(err.Error(), "set BOT_BOTTLE_HOME") {
			t.Errorf("Home() with UserHomeDir error %v = %v, want an error saying to set BOT_BOTTLE_HOME", uhErr, err)
		}
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level   string
		enabled slog.Level // lowest enabled level
		warns   bool       // about the level itself
	}{
		{"", slog.LevelWarn, false},
		{"debug", slog.LevelDebug, false},
		{"info", slog.LevelInfo, false},
		{"INFO", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"loud", slog.LevelWarn, true},
	}
	for _, tt := range tests {
		t.Run("level="+tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, tt.level)
			ctx := context.Background()
			if !log.Enabled(ctx, tt.enabled) || log.Enabled(ctx, tt.enabled-1) {
				t.Errorf("newLogger(%q): lowest enabled level is not %v", tt.level, tt.enabled)
			}
			warned := strings.Contains(buf.String(), `"value":"`+tt.level+`"`)
			if warned != tt.warns {
				t.Errorf("newLogger(%q) logged %q; want a warning about the level: %v", tt.level, buf.String(), tt.warns)
			}
		})
	}
}
