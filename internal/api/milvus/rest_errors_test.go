package milvus

import (
	"strings"
	"testing"
)

// TestRESTBadBodyErrors: a request body of the wrong shape is code 1801
// with Milvus's wording ("can only accept json format request, error:
// ...") and says what is wrong in the client's terms (JSON field names,
// JSON type names), never naming Go structs or types.
func TestRESTBadBodyErrors(t *testing.T) {
	ts := startServer(t, Options{})
	const prefix = "can only accept json format request, error: "
	for _, tc := range []struct {
		path, body string
		code       int32
		want       string // the message after prefix when code is 1801, else a part of it
	}{
		{"/collections/create", `{"collectionName":"c","dimension":"4"}`, 1801, `field "dimension": want a number, got a string`},
		{"/collections/create", `{"collectionName":"c","dimension":4.5}`, 1801, `field "dimension": want an integer that fits int64, got 4.5`},
		{"/collections/create", `{"collectionName":"c","dimension":4,"autoID":"yes"}`, 1801, `field "autoID": want a boolean, got a string`},
		{"/collections/create", `{"collectionName":["c"],"dimension":4}`, 1801, `field "collectionName": want a string, got an array`},
		{"/collections/create", `{"collectionName":"c","schema":{"fields":{"fieldName":"id"}}}`, 1801, `field "schema.fields": want an array, got an object`},
		{"/collections/create", `{"collectionName":"c","indexParams":[{"fieldName":1}]}`, 1801, `field "indexParams.fieldName": want a string, got a number`},
		{"/collections/has", `["c"]`, 1801, `the request body: want an object, got an array`},
		{"/collections/has", `{"collectionName": `, 1801, `the request body ends in the middle of a JSON value`},
		{"/collections/has", `{"collectionName": x}`, 1801, `invalid JSON at byte 20: invalid character 'x' looking for beginning of value`},
		{"/collections/has", `{"collectionName":"c"} {}`, 1801, `trailing data after the JSON body`},
		{"/entities/insert", `{"collectionName":"c","data":"row"}`, 0, `data must be a row object or an array of row objects: data: want an array, got a string`},
	} {
		env := ts.post(t, "/v2/vectordb"+tc.path, tc.body)
		if strings.Contains(env.Message, "Go ") || strings.Contains(env.Message, "rest") || strings.Contains(env.Message, "json: ") {
			t.Errorf("%s %s: message names Go internals: %q", tc.path, tc.body, env.Message)
		}
		if tc.code == 1801 {
			if env.Code != 1801 || env.Message != prefix+tc.want {
				t.Errorf("%s %s: code %d %q, want 1801 %q", tc.path, tc.body, env.Code, env.Message, prefix+tc.want)
			}
			continue
		}
		if env.Code == 0 || !strings.Contains(env.Message, tc.want) {
			t.Errorf("%s %s: code %d %q, want an error naming %q", tc.path, tc.body, env.Code, env.Message, tc.want)
		}
	}
}
