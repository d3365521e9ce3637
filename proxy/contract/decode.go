package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder fills a Config from the generic JSON tree of the file, field by field, and keeps
// going after a problem: every type error and unknown field is collected with its full path
// ("upstreams[2].tls.verifyDepth"), so that one run of --check lists them all. A field
// with a type error is left at its zero value and remembered, so that Validate's
// "required" for it is not reported as a second error.
type decoder struct {
	errs []error
	bad  map[string]bool // paths that had a decode error
}

var durationType = reflect.TypeFor[Duration]()

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Field: path, Detail: fmt.Sprintf(format, args...)})
	d.bad[path] = true
}

// decode stores v (from json.Decoder with UseNumber) into dst.
func (d *decoder) decode(v any, dst reflect.Value, path string) {
	if v == nil {
		return // null: the zero value, as encoding/json does
	}
	if dst.Kind() == reflect.Pointer {
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		dst = dst.Elem()
	}
	if dst.Type() == durationType {
		d.duration(v, dst, path)
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		d.object(v, dst, path)
	case reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			d.fail(path, "must be a list, got %s", show(v))
			return
		}
		dst.Set(reflect.MakeSlice(dst.Type(), len(items), len(items)))
		for i, item := range items {
			d.decode(item, dst.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.fail(path, "must be a string, got %s", show(v))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.fail(path, "must be true or false, got %s", show(v))
			return
		}
		dst.SetBool(b)
	case reflect.Int:
		d.integer(v, dst, path)
	default:
		panic(fmt.Sprintf("proxy: no decoding for %s", dst.Type())) // a new field type: extend this
	}
}

func (d *decoder) object(v any, dst reflect.Value, path string) {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "must be a mapping, got %s", show(v))
		return
	}
	fields := jsonFields(dst.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := joinPath(path, k)
		i, ok := fields[k]
		if !ok {
			d.fail(p, "unknown field")
			continue
		}
		d.decode(m[k], dst.Field(i), p)
	}
}

// integer accepts whole numbers. One too large for an int is stored saturated, so that
// Validate reports the allowed range rather than a type error.
func (d *decoder) integer(v any, dst reflect.Value, path string) {
	n, ok := v.(json.Number)
	if !ok {
		d.fail(path, "must be an integer, got %s", show(v))
		return
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	switch {
	case err == nil:
		dst.SetInt(i)
	case strings.ContainsAny(n.String(), ".eE"):
		d.fail(path, "must be an integer, got %s", n)
	case strings.HasPrefix(n.String(), "-"):
		dst.SetInt(math.MinInt)
	default:
		dst.SetInt(math.MaxInt)
	}
}

func (d *decoder) duration(v any, dst reflect.Value, path string) {
	s, ok := v.(string)
	if !ok {
		d.fail(path, "must be a duration such as \"5s\" or \"1m30s\", got %s", show(v))
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.fail(path, "must be a duration such as \"5s\" or \"1m30s\", got %q", s)
		return
	}
	dst.Set(reflect.ValueOf(Duration{dur}))
}

// show is a value as the file spelled it, for error messages.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// jsonFields maps the JSON names of a struct's fields to their indexes.
func jsonFields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// reported says whether a validation error is about a field that already had a decode
// error (or lies under one).
func (d *decoder) reported(err error) bool {
	fe, ok := err.(*FieldError)
	if !ok {
		return false
	}
	for p := fe.Field; p != ""; p = parentPath(p) {
		if d.bad[p] {
			return true
		}
	}
	return false
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
