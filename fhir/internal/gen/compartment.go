package main

import (
	"bytes"
	"fmt"
)

type compartmentDefinition struct {
	Resource []struct {
		Code  string   `json:"code"`
		Param []string `json:"param"`
	} `json:"resource"`
}

func (c *compartmentDefinition) write(buf *bytes.Buffer) {
	buf.WriteString("var patientCompartment = []compartmentEntry{\n")
	for _, r := range c.Resource {
		if len(r.Param) == 0 {
			continue
		}
		fmt.Fprintf(buf, "{%q, %s},\n", r.Code, stringSliceKeepOrder(r.Param))
	}
	buf.WriteString("}\n")
}

func stringSliceKeepOrder(ss []string) string {
	var b bytes.Buffer
	b.WriteString("[]string{")
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteString("}")
	return b.String()
}
