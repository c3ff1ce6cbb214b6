package jobs

// Waiting reports how many calls wait for a run.
func (g *Group[T]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting)
}

// Reindexed is the runner's list of indexes River rebuilds.
var Reindexed = reindexed
