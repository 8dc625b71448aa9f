package authserver

import (
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// TestIssueHeapFlat issues 200,000 JWT client-credentials tokens in process and checks that
// the heap after them is within a few MB of the heap after the first 20,000: issuing a token
// keeps nothing per token (one shared grant per client and scope set). It takes a few seconds,
// so it is skipped with -short and under -race.
func TestIssueHeapFlat(t *testing.T) {
	testIssueHeapFlat(t, "billing-service", billingSecret)
}

// TestIssueOpaqueHeapFlat is TestIssueHeapFlat for opaque access tokens, which are sealed, not
// stored (issue 11 item 10: the records of the first implementation grew the heap by about
// 4.5 KB a live token).
func TestIssueOpaqueHeapFlat(t *testing.T) {
	testIssueHeapFlat(t, "opaque-client", demoSecret)
}

func testIssueHeapFlat(t *testing.T, client, secret string) {
	if testing.Short() || raceDetector {
		t.Skip("measures memory over 200,000 issues: not with -short or -race")
	}
	srv, err := New(testConfig("https://tiaki.test"), Deps{
		Clients: fixtureClients(), Secrets: testSecrets, Sealer: testSealer, Keys: newFakeKeys(t, "k1"), Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	auth := basic(client, secret)
	body := "grant_type=client_credentials&scope=payments%3Aread"
	issue := func(n int) {
		const workers = 2
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range n / workers {
					if rec := post(h, PathToken, body, auth); rec.Code != http.StatusOK {
						t.Errorf("token: %d %s", rec.Code, rec.Body)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	issue(20_000)
	base := heap()
	issue(180_000)
	after := heap()
	t.Logf("HeapAlloc after 20,000 issues %.1f MB, after 200,000 %.1f MB; live grants %d",
		float64(base)/(1<<20), float64(after)/(1<<20), srv.grants.m.size())
	const slack = 4 << 20
	if after > base+slack {
		t.Errorf("the heap grew by %.1f MB over 180,000 issues, want at most %d MB",
			float64(after-base)/(1<<20), slack>>20)
	}
	if n := srv.grants.m.size(); n != 1 {
		t.Errorf("%d live grants, want 1 (one client, one scope set)", n)
	}
}
