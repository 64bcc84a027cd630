package docker

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/moby/moby/client"
)

type sentKey struct{}

// apiLog returns client options that log every Docker API call at debug
// level: method, path, status and milliseconds, for finding where a start
// or a stop spends its time. None when debug is off.
func apiLog(log *slog.Logger) []client.Opt {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return []client.Opt{
		client.WithHTTPRequestHook(func(req *http.Request) error {
			// The transport answers with a copy of the request; its
			// context is kept.
			*req = *req.WithContext(context.WithValue(req.Context(), sentKey{}, time.Now()))
			return nil
		}),
		client.WithHTTPResponseHook(func(resp *http.Response) {
			sent, ok := resp.Request.Context().Value(sentKey{}).(time.Time)
			if !ok {
				return
			}
			log.Debug("docker api", "method", resp.Request.Method, "path", resp.Request.URL.Path,
				"status", resp.StatusCode, "ms", time.Since(sent).Milliseconds())
		}),
	}
}
