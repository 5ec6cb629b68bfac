package item

import "testing"

func TestValidate(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"n":{"N":"1E+125"}}`:         true,
		`{"n":{"N":"9.99E+125"}}`:      true,
		`{"n":{"N":"1E+126"}}`:         false,
		`{"n":{"N":"1E+200"}}`:         false,
		`{"n":{"N":"1E-130"}}`:         true,
		`{"n":{"N":"0.1E-130"}}`:       false,
		`{"n":{"N":"-0.000"}}`:         true,
		`{"n":{"N":"12345.678e3"}}`:    true,
		`{"s":{"SS":[]}}`:              false,
		`{"s":{"SS":["a","a"]}}`:       false,
		`{"s":{"NS":["1","1.0"]}}`:     false,
		`{"s":{"NS":["1","2"]}}`:       true,
		`{"m":{"M":{"x":{"SS":[]}}}}`:  false,
		`{"l":{"L":[{"N":"1E+999"}]}}`: false,
		`{"b":{"BS":["YQ==","YQ=="]}}`: false,
	} {
		it, err := Unmarshal([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if err := Validate(it); (err == nil) != ok {
			t.Errorf("Validate(%s) = %v, want ok %v", body, err, ok)
		}
	}
}
