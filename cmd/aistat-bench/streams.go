package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// openStreams opens n event streams with the cookie and reads each in its
// own goroutine, calling onEvent with every event and when it arrived.
// It returns once all are open; cancel ctx to close them.
func openStreams(ctx context.Context, base, cookie string, n int, onEvent func(stream int, name, data string, at time.Time)) error {
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	client := &http.Client{Transport: tr}
	errs := make(chan error, n)
	var ready sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		ready.Add(1)
		sem <- struct{}{}
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events", nil)
			req.Header.Set("Cookie", "session="+cookie)
			res, err := client.Do(req)
			<-sem
			if err != nil {
				errs <- err
				ready.Done()
				return
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("stream %d: status %d", i, res.StatusCode)
				ready.Done()
				return
			}
			r := bufio.NewReader(res.Body)
			if _, err := r.ReadString('\n'); err != nil {
				errs <- err
				ready.Done()
				return
			}
			ready.Done()
			var name string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if ev, ok := strings.CutPrefix(line, "event: "); ok {
					name = strings.TrimSpace(ev)
				} else if data, ok := strings.CutPrefix(line, "data: "); ok && onEvent != nil {
					onEvent(i, name, data, time.Now())
				}
			}
		}()
	}
	ready.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

// deliveryLatency opens streams event streams of one user, saves the
// profile changes times through the API and returns the time from each
// save's request to its arrival on every stream, sorted.
func deliveryLatency(ctx context.Context, base, cookie string, streams, changes int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	sent := make(map[string]time.Time, changes)
	var lat []time.Duration
	got := make(chan struct{}, streams*changes)
	err := openStreams(ctx, base, cookie, streams, func(_ int, event, data string, at time.Time) {
		if event != "profile" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for name, t := range sent {
			if strings.Contains(data, `"name":"`+name+`"`) {
				lat = append(lat, at.Sub(t))
				got <- struct{}{}
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range changes {
		name := fmt.Sprintf("Bench Change %d", i)
		body := `{"name": "` + name + `", "avatarUrl": ""}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/profile", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cookie", "session="+cookie)
		mu.Lock()
		sent[name] = time.Now()
		mu.Unlock()
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("PUT /api/profile: %d", res.StatusCode)
		}
		for range streams {
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("change %d did not reach every stream", i)
			}
		}
	}
	slices.Sort(lat)
	return lat, nil
}
