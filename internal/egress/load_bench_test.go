package egress

import (
	"io"
	"testing"
)

// BenchmarkProxyKeepAlive drives small keep-alive GETs through the proxy
// to a loopback TLS upstream, DLP on, in one process: run it with
// -cpuprofile to see where the proxy spends its time (client and upstream
// costs are in the profile too).
func BenchmarkProxyKeepAlive(b *testing.B) {
	e := newEnvWith(&testing.T{}, dlpPolicy)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := e.client(false)
		for pb.Next() {
			resp, err := c.Get("https://api.test/v1/models")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
