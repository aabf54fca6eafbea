// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/websocket"
)

func TestRoutesByHostAndPathAndSetsForwardedHeaders(t *testing.T) {
	web, api := startBackend(t, "web"), startBackend(t, "api")
	f := startFront(t, Config{Routes: []Route{
		rt("shop/web", "shop.example", "/", web.srv.URL),
		rt("shop/api", "shop.example", "/api", api.srv.URL),
	}})
	c := &http.Client{}
	if _, body := f.get(t, c, "shop.example", "/cart"); body != "web /cart" {
		t.Errorf("/cart answered %q, want web", body)
	}
	req, _ := http.NewRequest(http.MethodGet, f.url+"/api/orders?id=7", nil)
	req.Host = "shop.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "api /api/orders" {
		t.Errorf("/api/orders answered %q, want api", body)
	}
	seen := api.last.Load()
	if seen.Host != "shop.example" || seen.URL.RawQuery != "id=7" {
		t.Errorf("backend saw host %q query %q", seen.Host, seen.URL.RawQuery)
	}
	if got := seen.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's chain plus 127.0.0.1", got)
	}
	if seen.Header.Get("X-Forwarded-Host") != "shop.example" || seen.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("X-Forwarded-Host %q, -Proto %q", seen.Header.Get("X-Forwarded-Host"), seen.Header.Get("X-Forwarded-Proto"))
	}
	if resp, _ := f.get(t, c, "elsewhere.example", "/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown host answered %d, want 404", resp.StatusCode)
	}
}

// The route's rate and in-flight figures match a generated load.
func TestRateAndConcurrencyMatchTheLoad(t *testing.T) {
	release := make(chan struct{})
	var inBackend atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inBackend.Add(1)
			defer inBackend.Add(-1)
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer slow.Close()
	f := startFront(t, Config{Window: 3 * time.Second, Bucket: 100 * time.Millisecond, Routes: []Route{rt("r", "app.example", "/", slow.URL)}})

	// 100 requests a second for 4 s, on a fixed schedule. A loaded machine
	// may bunch them up, so the rate is checked against when each request
	// was sent and answered, not against the schedule: the interceptor
	// counts a request when it arrives, in between.
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	start := time.Now()
	var (
		mu         sync.Mutex
		sent, done []time.Time
		wg         sync.WaitGroup
	)
	for i := 0; i < 400; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, f.url+"/", nil)
			req.Host = "app.example"
			at := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			sent, done = append(sent, at), append(done, time.Now())
			mu.Unlock()
		}()
	}
	wg.Wait()
	before := time.Now()
	got := f.stats(t, "r")
	after := time.Now()
	// The rate is the requests that arrived since the start of the oldest
	// bucket of the window, over the time since then: between 2.9 s and 3 s.
	var least, most int
	for i := range sent {
		if !sent[i].Before(after.Add(-2900 * time.Millisecond)) {
			least++
		}
		if !done[i].Before(before.Add(-3 * time.Second)) {
			most++
		}
	}
	if low, high := float64(least)/3, float64(most)/2.9; got.RequestRate < low || got.RequestRate > high {
		t.Errorf("rate %.1f req/s over %s, want between %.1f and %.1f (the requests sent and answered in the window)", got.RequestRate, got.Window, low, high)
	}
	if got.RequestsTotal != 400 {
		t.Errorf("requestsTotal %d, want 400", got.RequestsTotal)
	}

	// 7 requests held by the backend are 7 in flight.
	var held sync.WaitGroup
	for i := 0; i < 7; i++ {
		held.Add(1)
		go func() {
			defer held.Done()
			req, _ := http.NewRequest(http.MethodGet, f.url+"/slow", nil)
			req.Host = "app.example"
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	eventually(t, 10*time.Second, "7 requests in the backend", func() bool { return inBackend.Load() == 7 })
	if got := f.stats(t, "r").InFlight; got != 7 {
		t.Errorf("inFlight %d, want 7", got)
	}
	close(release)
	held.Wait()
	eventually(t, 5*time.Second, "in flight back to 0", func() bool { return f.stats(t, "r").InFlight == 0 })
}

// At zero ready endpoints a request is held; past the timeout it gets 503
// with Retry-After, and never reaches the backend.
func TestHeldRequestTimesOutWith503AndRetryAfter(t *testing.T) {
	b := startBackend(t, "web")
	f := startFront(t, Config{HoldTimeout: 800 * time.Millisecond, RetryAfter: 2 * time.Second, Routes: []Route{
		{Name: "shop/web", Host: "shop.example", Backend: b.srv.URL, Namespace: "shop", Service: "web"},
	}})
	c := &http.Client{}
	resp, body := f.get(t, c, "shop.example", "/")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("at zero past the timeout: %d Retry-After %q (%s); want 503 with Retry-After 2", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if b.served.Load() != 0 {
		t.Fatal("a request reached a backend with no ready endpoint")
	}
	if s := f.stats(t, "shop/web"); s.Held != 0 {
		t.Errorf("after the timeout the route still holds %d", s.Held)
	}
}

func TestHeldRequestsAreAnsweredOnceTheBackendIsReady(t *testing.T) {
	b := startBackend(t, "web")
	f := startFront(t, Config{HoldTimeout: 20 * time.Second, Routes: []Route{
		{Name: "shop/web", Host: "shop.example", Backend: b.srv.URL, Namespace: "shop", Service: "web"},
	}})
	c := &http.Client{}
	results := make(chan string, 5)
	for i := 0; i < 5; i++ {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, f.url+"/held", nil)
			req.Host = "shop.example"
			resp, err := c.Do(req)
			if err != nil {
				results <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- fmt.Sprint(resp.StatusCode, " ", string(body))
		}()
	}
	eventually(t, 10*time.Second, "5 held requests", func() bool { return f.stats(t, "shop/web").Held == 5 })
	f.ic.SetReadyEndpoints("shop", "web", 1)
	for i := 0; i < 5; i++ {
		select {
		case r := <-results:
			if r != "200 web /held" {
				t.Errorf("held request answered %q", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("held requests were not answered after the backend became ready")
		}
	}
	if s := f.stats(t, "shop/web"); s.Held != 0 || s.ReadyEndpoints != 1 {
		t.Errorf("after release: %+v", s)
	}
}

// A burst of 10,000 requests at zero: at most the bound is held, the rest
// are answered 503 at once, and memory stays under a stated figure.
func TestHoldQueueBoundUnderABurst(t *testing.T) {
	const burst, perRoute, total = 10000, 200, 300
	b := startBackend(t, "web")
	f := startFront(t, Config{HoldTimeout: 30 * time.Second, MaxHeldPerRoute: perRoute, MaxHeld: total, Routes: []Route{
		{Name: "a", Host: "a.example", Backend: b.srv.URL, Namespace: "shop", Service: "a"},
		{Name: "b", Host: "b.example", Backend: b.srv.URL, Namespace: "shop", Service: "b"},
	}})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var maxHeld atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if h := f.ic.held.Load(); h > maxHeld.Load() {
				maxHeld.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	// 10,000 requests from 400 connections, half to each route.
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 400, MaxConnsPerHost: 400}}
	var codes [600]atomic.Int64
	var peak uint64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < 400; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > burst {
					return
				}
				host := "a.example"
				if i%2 == 0 {
					host = "b.example"
				}
				req, _ := http.NewRequest(http.MethodGet, f.url+"/", nil)
				req.Host = host
				resp, err := c.Do(req)
				if err != nil {
					codes[599].Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[resp.StatusCode].Add(1)
			}
		}()
	}
	// Once the queue is full and the rest of the burst has been refused,
	// measure, then let the held ones through.
	eventually(t, 60*time.Second, "the burst to be refused", func() bool {
		return codes[503].Load() >= burst-total
	})
	if h := f.ic.held.Load(); h != total {
		t.Errorf("held %d requests once the burst passed, want the total bound %d", h, total)
	}
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	peak = during.HeapInuse
	f.ic.SetReadyEndpoints("shop", "a", 1)
	f.ic.SetReadyEndpoints("shop", "b", 1)
	wg.Wait()
	close(stop)
	sampler.Wait()

	if got := maxHeld.Load(); got > total {
		t.Errorf("%d requests held at once, over the bound %d", got, total)
	}
	for _, name := range []string{"a", "b"} {
		if s := f.stats(t, name); s.Held != 0 {
			t.Errorf("route %s still holds %d", name, s.Held)
		}
	}
	if codes[200].Load() != total || codes[503].Load() != burst-total || codes[599].Load() != 0 {
		t.Errorf("answers: %d × 200, %d × 503, %d errors; want %d, %d, 0", codes[200].Load(), codes[503].Load(), codes[599].Load(), total, burst-total)
	}
	// The stated figure: 64 MiB of heap growth for the whole test process
	// (the 400 client connections and goroutines included) with 300 held.
	const limit = 64 << 20
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("heap in use: %.1f MiB before, %.1f MiB with %d held and the burst refused (growth %.1f MiB)",
		float64(before.HeapInuse)/(1<<20), float64(peak)/(1<<20), total, float64(growth)/(1<<20))
	if growth > limit {
		t.Errorf("heap grew by %d MiB, over the stated %d MiB", growth>>20, limit>>20)
	}
}

func TestWebSocketPassesThrough(t *testing.T) {
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		_, _ = io.Copy(ws, ws)
	}))
	defer echo.Close()
	f := startFront(t, Config{Routes: []Route{rt("ws", "*", "/", echo.URL)}})
	cfg, err := websocket.NewConfig(strings.Replace(f.url, "http", "ws", 1)+"/echo", "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("WebSocket handshake through the interceptor: %v", err)
	}
	defer ws.Close()
	for _, msg := range []string{"hello", "through", "ebb"} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
	if s := f.stats(t, "ws"); s.InFlight != 1 {
		t.Errorf("an open WebSocket is %d in flight, want 1", s.InFlight)
	}
}

// HTTP/2 without TLS from the client, and to an h2c backend.
func TestHTTP2PassesThrough(t *testing.T) {
	var backendProto atomic.Value
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendProto.Store(r.Proto)
		_, _ = io.WriteString(w, "h2c backend")
	}))
	h2.Config.Protocols = new(http.Protocols)
	h2.Config.Protocols.SetUnencryptedHTTP2(true)
	h2.Start()
	defer h2.Close()
	f := startFront(t, Config{Routes: []Route{{Name: "grpcish", Host: "*", Backend: h2.URL, BackendProtocol: "h2c"}}})

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: tr}
	resp, err := c.Get(f.url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || string(body) != "h2c backend" {
		t.Fatalf("client got %s %q, want HTTP/2.0 from the interceptor", resp.Proto, body)
	}
	if p, _ := backendProto.Load().(string); p != "HTTP/2.0" {
		t.Fatalf("backend saw %q, want HTTP/2.0 (h2c)", p)
	}
}

// Server-sent events arrive as the backend sends them, not at the end.
func TestServerSentEventsStream(t *testing.T) {
	next := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer sse.Close()
	f := startFront(t, Config{Routes: []Route{rt("sse", "*", "/", sse.URL)}})
	resp, err := http.Get(f.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("data: event %d\n", i); line != want {
			t.Fatalf("line %q, want %q", line, want)
		}
		_, _ = rd.ReadString('\n')
		next <- struct{}{} // the backend sends the next event only after this one arrived
	}
}

// A large upload streams through without being buffered whole, and the
// client going away cancels the backend's request.
func TestBodiesStreamAndCancellationPassesThrough(t *testing.T) {
	cancelled := make(chan struct{})
	var got atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			<-r.Context().Done()
			close(cancelled)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		fmt.Fprint(w, n)
	}))
	defer b.Close()
	f := startFront(t, Config{Routes: []Route{rt("up", "*", "/", b.URL)}})
	const size = 256 << 20
	resp, err := http.Post(f.url+"/upload", "application/octet-stream", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != fmt.Sprint(size) {
		t.Fatalf("backend read %s bytes, want %d", body, size)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapSys > size {
		t.Errorf("heap reached %d MiB for a %d MiB upload: the body was buffered", ms.HeapSys>>20, size>>20)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/wait", nil)
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	_, _ = http.DefaultClient.Do(req)
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's request was not cancelled when the client went away")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestAdminEndpointNeedsTheTokenAndServesMetrics(t *testing.T) {
	b := startBackend(t, "web")
	f := startFront(t, Config{Routes: []Route{rt("shop/web", "shop.example", "/", b.srv.URL)}})
	for i := 0; i < 3; i++ {
		f.get(t, &http.Client{}, "shop.example", "/")
	}
	resp, err := http.Get(f.admin + "/v1/routes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, f.admin+"/v1/routes?route=shop/web&window=10s", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sr StatsResponse
	err = json.NewDecoder(resp.Body).Decode(&sr)
	resp.Body.Close()
	if err != nil || len(sr.Routes) != 1 || sr.Routes[0].RequestsTotal != 3 || sr.Routes[0].Window != "10s" {
		t.Fatalf("stats = %+v, %v", sr, err)
	}
	resp, err = http.Get(f.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := `
# HELP ebb_interceptor_requests_total Requests received per route, held ones included.
# TYPE ebb_interceptor_requests_total counter
ebb_interceptor_requests_total{route="shop/web"} 3
`
	body, _ := io.ReadAll(resp.Body)
	if err := testutil.CollectAndCompare(&collector{ic: f.ic}, strings.NewReader(want), "ebb_interceptor_requests_total"); err != nil {
		t.Error(err)
	}
	if !contains(string(body), `ebb_interceptor_requests_held{route="shop/web"} 0`) {
		t.Errorf("/metrics lacks the held gauge:\n%s", body)
	}
}
