// Package engine holds what every engine package and the handlers share: the
// table of user-facing error codes, each with the action a person can take.
// Codes are stable API: the portal, the JSON API, alerts and jobs carry them.
package engine

import (
	"errors"
	"fmt"
)

// Code is a stable, user-facing error code in the style of the portal
// sqlvault replaces (UserError… for what the user can fix, Internal… for
// the rest).
type Code string

// The codes. Keep the list sorted by area; add a row to actions with each.
const (
	// Requests and access.
	CodeInvalidRequest Code = "UserErrorInvalidRequest"
	CodeUnauthorized   Code = "UserErrorUnauthorized"
	CodeForbidden      Code = "UserErrorForbidden"
	CodeNotFound       Code = "UserErrorNotFound"
	CodeConflict       Code = "UserErrorConflict"
	CodeTooManyLogins  Code = "UserErrorTooManyLoginAttempts"
	CodeWeakPassword   Code = "UserErrorWeakPassword"
	CodeLastAdmin      Code = "UserErrorLastAdmin"
	CodeRoleTooHigh    Code = "UserErrorRoleAboveCreator"
	CodeApprovalNeeded Code = "UserErrorApprovalRequired"
	CodeSelfApproval   Code = "UserErrorSelfApproval"
	CodeInternal       Code = "InternalError"

	// Instances.
	CodeInstanceUnreachable       Code = "UserErrorInstanceUnreachable"
	CodeSQLLoginFailed            Code = "UserErrorSQLLoginFailed"
	CodeTLSFailed                 Code = "UserErrorSQLTLSFailed"
	CodeNotSQLServer              Code = "UserErrorNotSQLServer"
	CodeNoSysadmin                Code = "UserErrorSQLNoSysadminMembership"
	CodeDeviceCertificateNotTrust Code = "UserErrorDeviceCertificateNotTrusted"
	CodeDeviceUnreachable         Code = "UserErrorDeviceUnreachable"
	CodeSQLVersionUnsupported     Code = "UserErrorSQLVersionUnsupported"
	CodeServerAlreadyRegistered   Code = "UserErrorServerAlreadyRegistered"

	// Databases and backups.
	CodeDatabaseNotFound     Code = "UserErrorDatabaseNotFound"
	CodeDatabaseNotOnline    Code = "UserErrorDatabaseNotOnline"
	CodeDatabaseInStandby    Code = "UserErrorDatabaseInStandby"
	CodeAGSecondary          Code = "UserErrorAvailabilityGroupSecondary"
	CodeAGNoReplica          Code = "UserErrorAvailabilityGroupNoReplicaForBackup"
	CodeAGRestoreOverGroup   Code = "UserErrorRestoreOverAvailabilityGroupDatabase"
	CodeAGListenerMismatch   Code = "UserErrorAvailabilityGroupListenerMismatch"
	CodeReadOnlyBackupType   Code = "UserErrorBackupTypeNotAllowedReadOnly"
	CodeLogBackupSimple      Code = "UserErrorLogBackupNotAllowedInSimpleRecovery"
	CodeMissingFullBackup    Code = "UserErrorMissingFullBackup"
	CodeBackupFailed         Code = "UserErrorBackupFailed"
	CodeConnectionLost       Code = "UserErrorSQLConnectionLost"
	CodeInterrupted          Code = "UserErrorInterrupted"
	CodeCancelled            Code = "UserErrorJobCancelled"
	CodeAlreadyInProgress    Code = "UserErrorOperationAlreadyInProgress"
	CodeVaultFull            Code = "UserErrorVaultStorageFull"
	CodeVaultCorrupt         Code = "UserErrorVaultDataCorrupt"
	CodeVaultObjectHidden    Code = "UserErrorVaultObjectHidden"
	CodeProtectionStopped    Code = "UserErrorProtectionStopped"
	CodePolicyInUse          Code = "UserErrorPolicyInUse"
	CodePolicyInvalid        Code = "UserErrorInvalidPolicy"
	CodeDatabaseAlreadyProtd Code = "UserErrorDatabaseAlreadyProtected"
	CodeDatabaseReplaced     Code = "UserErrorDatabaseReplaced"
	CodeVaultImmutable       Code = "UserErrorVaultImmutable"
	CodeImmutabilityLocked   Code = "UserErrorImmutabilityLocked"
	CodeStorageLockMissing   Code = "UserErrorStorageLockNotSupported"
	CodeStorageRetention     Code = "UserErrorStorageRetentionFailed"
	CodeForeignBackup        Code = "UserErrorBackupTakenOutsideSqlvault"
	CodeDiffBaseNotInVault   Code = "UserErrorDifferentialBaseNotInVault"

	// Restores.
	CodeLogChainBroken           Code = "UserErrorLogChainBroken"
	CodeTimeNotCovered           Code = "UserErrorPointInTimeNotCovered"
	CodeRecoveryPointExpired     Code = "UserErrorRecoveryPointExpired"
	CodeTargetDatabaseExists     Code = "UserErrorTargetDatabaseExists"
	CodeOverwriteNotConfirmed    Code = "UserErrorOverwriteNotConfirmed"
	CodeRestoreFailed            Code = "UserErrorRestoreFailed"
	CodeRestoreBlockSizeMismatch Code = "UserErrorRestoreBlockSizeMismatch"
	CodeTailLogBackupFailed      Code = "UserErrorTailLogBackupFailed"
	CodeRestoreLeftRestoring     Code = "UserErrorRestoreLeftRestoring"

	CodeSystemDatabaseTarget Code = "UserErrorSystemDatabaseRestoreTarget"

	// Verification of recovery points.
	CodeVerificationFailed  Code = "UserErrorVerificationFailed"
	CodeBackupChecksum      Code = "UserErrorBackupChecksumFailed"
	CodeVerificationOverdue Code = "UserErrorVerificationOverdue"

	// Health and the catalog.
	CodeRPOBreached         Code = "UserErrorRPOBreached"
	CodeCatalogStorageFull  Code = "UserErrorCatalogStorageFull"
	CodeCatalogFileMissing  Code = "UserErrorCatalogFileMissing"
	CodeCatalogEmptyOnVault Code = "UserErrorCatalogEmptyBesideVault"

	// Notifications.
	CodeNotificationFailed Code = "UserErrorNotificationDeliveryFailed"
)

// actions is the recommended action for each code.
var actions = map[Code]string{
	CodeInvalidRequest: "Correct the field named in the message and try again.",
	CodeUnauthorized:   "Sign in, or send a valid API token in the Authorization header.",
	CodeForbidden:      "Ask an administrator for a role that allows this action.",
	CodeNotFound:       "Check the id; the object may have been deleted.",
	CodeConflict:       "Reload the object and try again.",
	CodeTooManyLogins:  "Wait a moment before trying to sign in again.",
	CodeWeakPassword:   "Choose a password of at least 12 characters that is not a common one; a passphrase of several words works well.",
	CodeLastAdmin:      "Make another user an enabled admin first; the server must keep at least one.",
	CodeRoleTooHigh:    "Create the token with your own role or a lower one, or ask an admin to create it.",
	CodeApprovalNeeded: "Ask another admin to approve the request named in the answer (Approvals in the portal, or POST /api/v1/approvals/{id}/approve) before it expires.",
	CodeSelfApproval:   "Another admin must decide this request: multi-user authorization never lets the requester approve their own.",
	CodeInternal:       "Retry the operation; if it fails again, check the server log.",

	CodeInstanceUnreachable:       "Check that SQL Server is running, that the host and port are right and that the firewall allows the connection.",
	CodeSQLLoginFailed:            "Check the SQL login name and password, and that SQL Server authentication is enabled on the instance.",
	CodeTLSFailed:                 "Check the encryption setting; trust the instance's certificate or set trust_server_certificate.",
	CodeNotSQLServer:              "Check the host and port: the service there does not speak SQL Server's protocol.",
	CodeNoSysadmin:                "Download the permission script from the server's page and run it as administrator on the SQL Server host, then select Rediscover DBs.",
	CodeDeviceCertificateNotTrust: "Import sqlvault's device CA certificate into the trusted root store of the SQL Server host (the permission script does this).",
	CodeDeviceUnreachable:         "Make sure the SQL Server host resolves the device name to this server and that port 443 is open to it.",
	CodeServerAlreadyRegistered:   "The instance is already registered as the server named in the message: use that registration (edit its connection if the host or address changed), or unregister it first.",
	CodeSQLVersionUnsupported:     "Upgrade the instance to SQL Server 2016 (13.x) or later: sqlvault backs up with BACKUP TO URL into block blobs under a shared access signature credential, which earlier versions do not have (they write page blobs with a storage account key only).",

	CodeDatabaseNotFound:     "Select Rediscover DBs on the server; the database may have been dropped or renamed.",
	CodeDatabaseNotOnline:    "Bring the database online, then retry the backup.",
	CodeDatabaseInStandby:    "Finish the database's restore sequence with RESTORE DATABASE [name] WITH RECOVERY, then select Rediscover DBs: a database in standby cannot be backed up.",
	CodeAGSecondary:          "Register every replica of the availability group and run discovery on each: sqlvault protects a group database once it knows its group; a secondary allows only copy-only full and log backups, so full and differential backups run on the primary.",
	CodeAGNoReplica:          "Bring a replica the group's backup preference allows online and synchronizing (or the primary, for full and differential backups), register it in sqlvault with a sysadmin login, then retry; the job's message says why each replica was passed over.",
	CodeAGRestoreOverGroup:   "Restore to another name or instance, or confirm remove_from_group: sqlvault then removes the database from the availability group on that replica before restoring; afterwards restore the secondaries WITH NORECOVERY and join them again (ALTER DATABASE ... SET HADR AVAILABILITY GROUP = ...).",
	CodeAGListenerMismatch:   "Check the server's host and port: it was registered as an availability group's listener, and the instance answering there no longer reports that listener (sys.availability_group_listeners); correct the address or register the replicas directly.",
	CodeReadOnlyBackupType:   "Run full or copy-only full backups of a read-only database, or set it READ_WRITE (ALTER DATABASE ... SET READ_WRITE) and rediscover for differential and log backups.",
	CodeLogBackupSimple:      "Switch the database to the FULL recovery model, or rely on full and differential backups only.",
	CodeMissingFullBackup:    "Run a full backup first; a differential or log backup needs one.",
	CodeBackupFailed:         "Check the job's error message and the SQL Server error log, then retry.",
	CodeConnectionLost:       "Check the network between sqlvault and SQL Server; the job will be retried.",
	CodeInterrupted:          "The server stopped while the job ran; it is retried automatically.",
	CodeCancelled:            "No action needed; start the operation again if you still want it.",
	CodeAlreadyInProgress:    "Wait for the running operation to finish.",
	CodeVaultFull:            "Free space on the vault's storage or add capacity, then retry.",
	CodeVaultCorrupt:         "Run verify on the vault; restore from another recovery point if one is damaged.",
	CodeVaultObjectHidden:    "Someone with the bucket's delete permission put delete markers over the vault objects named; sqlvault read their retained versions, so nothing is lost. Find who in the bucket's access log and revoke that permission, then remove the markers (DELETE with the marker's version id) so other readers see the objects again.",
	CodeProtectionStopped:    "Resume protection with a policy to start backups again.",
	CodePolicyInUse:          "Move the items to another policy or stop their protection first.",
	CodePolicyInvalid:        "Correct the policy field named in the message.",
	CodeDatabaseAlreadyProtd: "The database is already protected by the item named in the message; change that item's policy instead.",
	CodeVaultImmutable:       "The vault is immutable: stop protection keeping the data, or lengthen retention; points leave by retention once they expire. An admin can turn immutability off unless it is locked.",
	CodeImmutabilityLocked:   "Nothing can unlock a locked vault; its points leave by retention when they expire.",
	CodeStorageLockMissing:   "Keep the vault on storage that enforces write-once itself (see docs/security.md): a separate machine, chattr +a, or a bucket with its own retention rule.",
	CodeStorageRetention:     "The vault's bucket has S3 Object Lock but refused to set a backup's retention: give sqlvault's credentials s3:GetObjectRetention and s3:PutObjectRetention on the bucket, then run the backup again (the failed one left no recovery point).",
	CodeDatabaseReplaced:     "If the database was recreated on purpose, nothing to do: the old item keeps its points, restorable, and a new item protects the new database. If not, find out who dropped it; restore it from the old item.",
	CodeForeignBackup:        "Another job or tool backs up this database (msdb names its device and login): stop it, or have it add WITH COPY_ONLY, which leaves sqlvault's chain intact. With auto-heal on, sqlvault's next scheduled backup runs as a full and starts a new chain; otherwise run a full backup now.",
	CodeDiffBaseNotInVault:   "A full backup not in the vault became the differential base, so this differential cannot be restored from the vault: run a full backup now, and stop the other full backups or have them add WITH COPY_ONLY.",

	CodeLogChainBroken:           "Run a full backup to start a new log chain; restore points across the break are not available.",
	CodeTimeNotCovered:           "Pick a time inside one of the restorable log ranges shown on the timeline.",
	CodeRecoveryPointExpired:     "Pick a later recovery point; the one needed has expired.",
	CodeTargetDatabaseExists:     "Choose another database name, or confirm overwrite.",
	CodeOverwriteNotConfirmed:    "Set overwrite to confirm replacing the original database.",
	CodeRestoreFailed:            "Check the job's error message and the SQL Server error log, then retry.",
	CodeRestoreBlockSizeMismatch: "The backup was not written with the BLOCKSIZE = 65536 that sqlvault's backups and restores use; restore it by hand with RESTORE ... WITH BLOCKSIZE = the value SQL Server suggests, or pick a recovery point sqlvault wrote.",
	CodeTailLogBackupFailed:      "Check the source database; the restore was not started so nothing was lost.",
	CodeRestoreLeftRestoring:     "Run RESTORE DATABASE [name] WITH RECOVERY on the instance (the message names the statement) to bring the database online, or restore again to a point inside the log chain.",

	CodeSystemDatabaseTarget: "sqlvault does not restore over master, model, msdb or tempdb: restore a system database by hand as Microsoft documents it (master only with the instance started in single-user mode, sqlservr -m; see learn.microsoft.com/sql/relational-databases/backup-restore/restore-the-master-database-transact-sql), or restore to another name.",

	CodeVerificationFailed:  "The restored copy of this recovery point is damaged or differs from the source: read the CHECKDB messages and row counts on the verification job, run DBCC CHECKDB on the source database, take a new full backup once it is clean, and meanwhile restore from an earlier point that verified clean.",
	CodeBackupChecksum:      "SQL Server found a damaged page in the backup itself (error 3183): run DBCC CHECKDB on the source database, take a new full backup once it is clean, and meanwhile restore from an earlier point that verified clean.",
	CodeVerificationOverdue: "Check the policy's verification instance is registered and reachable and that its size limit admits the database, then select Verify now on the item.",
	CodeRPOBreached:         "Check the item's recent backup jobs and its server's health; run Backup now once the cause is fixed.",
	CodeCatalogStorageFull:  "Free space on the file system holding the catalog (sqlvault.db in the data directory); nothing was changed by the refused request, so retry it once there is room.",
	CodeCatalogFileMissing:  "Stop the server: the catalog file was deleted or replaced while open, and changes since would be lost. Put the file back, or start on a new catalog and run sqlvault vault rebuild-catalog.",
	CodeCatalogEmptyOnVault: "Run sqlvault vault rebuild-catalog --data DIR to bring the vault's recovery points back into the catalog, or start with --new-catalog to begin again on purpose (the vault's points then stay unlisted until a rebuild).",
	CodeNotificationFailed:  "Check the channel's address, port, TLS mode and credentials under Notifications on the Settings page, then use Test; a failed alert message is retried with backoff and its status is listed under Deliveries.",
}

// Action returns the recommended action for c, or a generic one.
func (c Code) Action() string {
	if a, ok := actions[c]; ok {
		return a
	}
	return actions[CodeInternal]
}

// Error is an error with a code a user sees.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, for logs; never shown as is
}

// Errorf makes an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap makes an *Error that keeps err as its cause.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Action is the recommended action for the error's code.
func (e *Error) Action() string { return e.Code.Action() }

// CodeOf returns the code of the first *Error in err's chain, or
// CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// MessageOf returns the message a user sees for err: the Message of the
// first *Error in its chain, or err's text.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
