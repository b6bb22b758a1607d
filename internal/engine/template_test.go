package engine

import (
	"bytes"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// TestTemplateFingerprint: a delete's request fingerprint covers its
// template values deterministically (same values, same bytes, whatever the
// map order; other values, other bytes).
func TestTemplateFingerprint(t *testing.T) {
	iv := func(v int64) *schemapb.TemplateValue {
		return &schemapb.TemplateValue{Val: &schemapb.TemplateValue_Int64Val{Int64Val: v}}
	}
	a := templateFingerprint(map[string]*schemapb.TemplateValue{"a": iv(1), "b": iv(2), "c": iv(3)})
	for range 20 {
		if b := templateFingerprint(map[string]*schemapb.TemplateValue{"c": iv(3), "a": iv(1), "b": iv(2)}); !bytes.Equal(a, b) {
			t.Fatal("fingerprint depends on map order")
		}
	}
	if b := templateFingerprint(map[string]*schemapb.TemplateValue{"a": iv(1), "b": iv(2), "c": iv(4)}); bytes.Equal(a, b) {
		t.Fatal("different values, same fingerprint")
	}
	if b := templateFingerprint(map[string]*schemapb.TemplateValue{"a": iv(1), "bc": iv(2)}); bytes.Equal(a, b) {
		t.Fatal("different names, same fingerprint")
	}
}
