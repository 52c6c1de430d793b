package render

import (
	"testing"

	"github.com/fedora-infra/nocbot/status"
)

// For the benchmarks of the external test package, which publish through
// a real target (publisher/dir imports render).
var FixedNow = fixedNow

func LargeBoard(t testing.TB, comps, n int) *status.Board { return largeBoard(t, comps, n) }

func SiteForTests() Site { return testSite() }

func VmRSS() (float64, bool) { return vmRSS() }

func OneChange(tb testing.TB, b *status.Board, i int) *status.Board { return oneChange(tb, b, i) }
