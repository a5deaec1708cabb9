package sqlsim

import (
	"errors"

	mssql "github.com/microsoft/go-mssqldb"
)

func mssqlErr(err error) *mssql.Error {
	var e mssql.Error
	if errors.As(err, &e) {
		return &e
	}
	return nil
}
