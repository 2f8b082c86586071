package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// mailbox finds the account {address} with the access need, and its
// mailbox.
func (a *API) mailbox(rq *request, need access) (directory.User, *store.Mailbox, error) {
	u, err := a.account(rq, rq.r.PathValue("address"), need)
	if err != nil {
		return u, nil, err
	}
	mb, err := a.st.Mailbox(u.Shard, u.ID)
	return u, mb, err
}

// folder finds the account {address}, its mailbox and its folder {folder}.
func (a *API) folder(rq *request, need access) (directory.User, *store.Mailbox, store.Folder, error) {
	u, mb, err := a.mailbox(rq, need)
	if err != nil {
		return u, nil, store.Folder{}, err
	}
	f, err := mb.Folder(rq.r.Context(), rq.r.PathValue("folder"))
	return u, mb, f, err
}

func folderJSON(ctx context.Context, mb *store.Mailbox, f store.Folder) Folder {
	out := Folder{Name: f.Name, SpecialUse: specialUseName(f.SpecialUse), Subscribed: f.Subscribed, Messages: f.Messages,
		Bytes: f.Bytes, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq}
	out.Unseen, _, _, _ = mb.FolderCounts(ctx, f.ID)
	return out
}

// listFolders: GET /users/{address}/folders.
func (a *API) listFolders(rq *request) error {
	_, mb, err := a.mailbox(rq, readMail)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	folders, err := mb.Folders(ctx)
	if err != nil {
		return err
	}
	out := []Folder{}
	for _, f := range folders {
		out = append(out, folderJSON(ctx, mb, f))
	}
	return rq.json(http.StatusOK, out)
}

// createFolder: POST /users/{address}/folders; missing parents are made
// too.
func (a *API) createFolder(rq *request) error {
	u, mb, err := a.mailbox(rq, writeMail)
	if err != nil {
		return err
	}
	var in NewFolder
	if err := rq.decode(&in); err != nil {
		return err
	}
	use, ok := specialUses[in.SpecialUse]
	if !ok && in.SpecialUse != "" {
		return badRequest("special_use %q (sent, drafts, trash, junk, archive, all or flagged)", in.SpecialUse)
	}
	ctx := rq.r.Context()
	f, err := mb.CreateFolder(ctx, store.FolderSpec{Name: in.Name, SpecialUse: use})
	if err != nil {
		return err
	}
	rq.w.Header().Set("Location", Prefix+"/users/"+url.PathEscape(u.Address)+"/folders/"+url.PathEscape(f.Name))
	return rq.json(http.StatusCreated, folderJSON(ctx, mb, f))
}

// getFolder: GET /users/{address}/folders/{folder}.
func (a *API) getFolder(rq *request) error {
	_, mb, f, err := a.folder(rq, readMail)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, folderJSON(rq.r.Context(), mb, f))
}

// patchFolder: PATCH /users/{address}/folders/{folder}: rename (with its
// subfolders; renaming INBOX moves its messages, RFC 9051 section 6.3.6),
// subscribe or unsubscribe.
func (a *API) patchFolder(rq *request) error {
	_, mb, f, err := a.folder(rq, writeMail)
	if err != nil {
		return err
	}
	var in FolderPatch
	if err := rq.decode(&in); err != nil {
		return err
	}
	ctx := rq.r.Context()
	name := f.Name
	if in.Name != nil {
		if name, err = store.CanonicalFolderName(*in.Name); err != nil {
			return err
		}
		if name != f.Name {
			if err := mb.RenameFolder(ctx, f.Name, name); err != nil {
				return err
			}
		}
	}
	if in.Subscribed != nil {
		if err := mb.SetSubscribed(ctx, name, *in.Subscribed); err != nil {
			return err
		}
	}
	nf, err := mb.Folder(ctx, name)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, folderJSON(ctx, mb, nf))
}

// deleteFolder: DELETE /users/{address}/folders/{folder}, with its
// messages; INBOX and folders with subfolders are refused.
func (a *API) deleteFolder(rq *request) error {
	_, mb, f, err := a.folder(rq, writeMail)
	if err != nil {
		return err
	}
	if err := mb.DeleteFolder(rq.r.Context(), f.Name); err != nil {
		return err
	}
	return rq.noContent()
}
