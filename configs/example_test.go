package configs_test

import (
	"fmt"

	"github.com/canaryd/canaryd/configs/spec"
)

func ExampleQueryTemplate() {
	qt, err := spec.ParseQueryTemplate("error_rate",
		`sum(rate(http_requests_total{service="{{.Service}}",track="{{.Role}}",code=~"5.."}[{{.Interval}}]))`)
	if err != nil {
		fmt.Println(err)
		return
	}
	q, err := qt.Render(spec.QueryData{Service: "checkout", Role: "canary", Interval: "1m"})
	fmt.Println(q, err)

	_, err = qt.Render(spec.QueryData{Service: "checkout", Interval: "1m"})
	fmt.Println(err)
	// Output:
	// sum(rate(http_requests_total{service="checkout",track="canary",code=~"5.."}[1m])) <nil>
	// metric "error_rate": query template uses {{.Role}} but Role is empty
}
