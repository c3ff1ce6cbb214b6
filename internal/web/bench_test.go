package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/user"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
	"gatehouse/internal/web"
)

// BenchmarkConsoleFirstScreen measures, in headless Chromium over
// loopback, a signed-in demo user's first screen of the console: from
// navigating to /app until My Requests shows its answer (its list or "No
// requests here."), the viewer's name in the header. The first load of a
// run fetches the page, its script and style; later ones are repeat visits
// (the browser revalidates them by ETag). Reported as ms/screen.
func BenchmarkConsoleFirstScreen(b *testing.B) {
	env := apitest.New(b, dbtest.NewSQLite(b))
	_, err := demo.Seed(context.Background(), env.Client)
	require.NoError(b, err)
	u, err := env.Client.User.Query().Where(user.Email("grace.liu@example.com")).Only(apitest.Sys())
	require.NoError(b, err)
	base := serve(b, env.Handler)
	ctx := browser(b, nil)
	require.NoError(b, chromedp.Do(ctx,
		chromedp.Navigate(base+web.AppPath),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		voidEval(fmt.Sprintf(`localStorage.setItem("gatehouse.token", %q)`, env.Token(b, u))),
	))
	ready := fmt.Sprintf(`!!document.querySelector('[data-viewer=%q]') && !!document.querySelector('main .empty, main [data-request]')`, u.Email)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		require.NoError(b, chromedp.Do(ctx,
			chromedp.Navigate(base+web.AppPath),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := chromedp.Poll[bool](ready, chromedp.WithPollingInterval(5*time.Millisecond),
					chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
				return err
			}),
		))
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/screen")
}
