package matrix

import "container/list"

// lru remembers the most recently seen keys up to a bound. The sync loop
// uses it to drop an event the homeserver delivers twice (a batch fetched
// again after its token could not be saved, a room re-sent after a
// limited timeline).
type lru struct {
	max   int
	order *list.List // front: most recent
	items map[string]*list.Element
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[string]*list.Element, max)}
}

// seen reports whether key was seen before, and remembers it.
func (l *lru) seen(key string) bool {
	if e, ok := l.items[key]; ok {
		l.order.MoveToFront(e)
		return true
	}
	l.items[key] = l.order.PushFront(key)
	if l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.items, last.Value.(string))
	}
	return false
}
