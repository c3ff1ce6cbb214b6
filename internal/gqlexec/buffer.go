package gqlexec

import (
	"bytes"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// responseBuffers holds the buffers of responses already written (Release),
// each a *[]byte of length 0, for the data of the next ones (Marshal).
var responseBuffers sync.Pool

// maxPooled is the capacity above which a buffer is left to the garbage
// collector: a rare large response does not keep its memory.
const maxPooled = 1 << 20

// Marshal writes m, a response's data, into a buffer from the pool and
// returns it. A response's data used to grow from nothing by doubling, so
// that a 130 KB answer allocated and copied twice that on its way.
// The generated executor calls it for queries and mutations.
func Marshal(m graphql.Marshaler) []byte {
	var buf *bytes.Buffer
	if p, ok := responseBuffers.Get().(*[]byte); ok {
		buf = bytes.NewBuffer(*p)
	} else {
		buf = new(bytes.Buffer)
	}
	m.MarshalGQL(buf)
	return buf.Bytes()
}

// Release gives data, a response's data that has been written and that
// nothing refers to any more, to the next Marshal. Only the transport that
// wrote the response may call it.
func Release(data []byte) {
	if c := cap(data); c == 0 || c > maxPooled {
		return
	}
	data = data[:0]
	responseBuffers.Put(&data)
}
