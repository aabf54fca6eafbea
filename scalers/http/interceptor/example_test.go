// SPDX-License-Identifier: Apache-2.0

package interceptor_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// An interceptor in front of one backend: requests for shop.example go
// through and are counted.
func ExampleNew() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the backend, for %s%s", r.Host, r.URL.Path)
	}))
	defer backend.Close()

	ic, err := interceptor.New(interceptor.Config{Routes: []interceptor.Route{
		{Name: "shop/web", Host: "shop.example", Backend: backend.URL},
	}})
	if err != nil {
		log.Fatal(err)
	}
	front := httptest.NewServer(ic) // in production: interceptor.NewServer(addr, ic)
	defer front.Close()
	defer ic.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/cart", nil)
	req.Host = "shop.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	st := ic.Stats(0, "shop/web")[0]
	fmt.Println("requests:", st.RequestsTotal, "in flight:", st.InFlight, "ready endpoints:", st.ReadyEndpoints)
	// Output:
	// hello from the backend, for shop.example/cart
	// requests: 1 in flight: 0 ready endpoints: 1
}
