package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3 description of the API.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI: GET /openapi.json, without a key.
func (a *API) openAPI(rq *request) error {
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.Header().Set("Cache-Control", "no-cache")
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write(openAPIDoc)
	return nil
}
