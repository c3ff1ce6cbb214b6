package catalog

import (
	"context"
	"errors"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// CreateApplication adds an application. The connector kind must agree with
// the fulfilment mode (MANUAL ⇔ MANUAL; DIRECT and DIRECT_AUTO_APPROVED need
// an automated connector) and its configuration must be valid for the kind.
// IT_ADMIN only. Errors: FORBIDDEN, INVALID_INPUT naming the field (a
// service account among the owners, too), CONFLICT naming the field (a
// taken name), NOT_FOUND (unknown owner).
func (s *Service) CreateApplication(ctx context.Context, in ent.CreateApplicationInput) (*ent.Application, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.Application, error) {
		if err := checkApplicationName(ctx, tx, "", &in.Name); err != nil {
			return nil, err
		}
		if err := s.checkConnector(in.Fulfillment, in.ConnectorKind, in.ConnectorConfig); err != nil {
			return nil, err
		}
		if err := people(ctx, tx, "ownerIDs", "an application owner", in.OwnerIDs); err != nil {
			return nil, err
		}
		return tx.Application.Create().SetInput(in).Save(ctx)
	})
}

// UpdateApplication changes an application; the resulting fulfilment, kind
// and configuration are checked together. IT_ADMIN only. Errors as
// CreateApplication, plus NOT_FOUND for an unknown application.
func (s *Service) UpdateApplication(ctx context.Context, id pulid.ID, in ent.UpdateApplicationInput) (*ent.Application, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.Application, error) {
		app, err := tx.Application.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := checkApplicationName(ctx, tx, id, in.Name); err != nil {
			return nil, err
		}
		fulfillment, kind, config := app.Fulfillment, app.ConnectorKind, app.ConnectorConfig
		if in.Fulfillment != nil {
			fulfillment = *in.Fulfillment
		}
		if in.ConnectorKind != nil {
			kind = *in.ConnectorKind
		}
		if in.ClearConnectorConfig {
			config = nil
		}
		if in.ConnectorConfig != nil {
			config = in.ConnectorConfig
		}
		if err := s.checkConnector(fulfillment, kind, config); err != nil {
			return nil, err
		}
		if err := people(ctx, tx, "addOwnerIDs", "an application owner", in.AddOwnerIDs); err != nil {
			return nil, err
		}
		return tx.Application.UpdateOneID(id).SetInput(in).Save(ctx)
	})
}

func checkApplicationName(ctx context.Context, tx *ent.Tx, self pulid.ID, name *string) error {
	if name == nil {
		return nil
	}
	taken, err := tx.Application.Query().Where(application.Name(*name), application.IDNEQ(self)).Exist(ctx)
	if err != nil {
		return err
	}
	if taken {
		return errcode.Duplicate("name", "an application named %q already exists", *name)
	}
	return nil
}

// checkConnector checks that the connector kind agrees with the fulfilment
// mode and that the kind accepts the configuration.
func (s *Service) checkConnector(f enum.Fulfillment, kind enum.ConnectorKind, config map[string]any) error {
	manualFulfillment := f == enum.FulfillmentManual
	manualKind := kind == enum.ConnectorKindManual
	switch {
	case manualFulfillment && !manualKind:
		return errcode.Invalid("connectorKind", "MANUAL fulfilment takes the MANUAL connector, not %s", kind)
	case !manualFulfillment && manualKind:
		return errcode.Invalid("connectorKind", "%s fulfilment needs an automated connector (WEBHOOK, SCIM or POSTGRES), not MANUAL", f)
	}
	if err := s.connectors.ValidateConfig(string(kind), config); err != nil {
		var ce *connectors.ConfigError
		if errors.As(err, &ce) {
			if ce.Key == "" {
				return errcode.Invalid("connectorKind", "%s", ce.Message)
			}
			return errcode.Invalid("connectorConfig."+ce.Key, "%s", ce.Message)
		}
		return err
	}
	return nil
}

// CreateEntitlement adds an entitlement to an application. IT_ADMIN only.
// Errors: FORBIDDEN, INVALID_INPUT (a service account as owner), CONFLICT
// (external ID or name taken in the application), NOT_FOUND (unknown
// application or owner).
func (s *Service) CreateEntitlement(ctx context.Context, in ent.CreateEntitlementInput) (*ent.Entitlement, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.Entitlement, error) {
		if err := existing(ctx, "applicationID", "application", []pulid.ID{in.ApplicationID}, applications(tx)); err != nil {
			return nil, err
		}
		if err := checkEntitlement(ctx, tx, "", in.ApplicationID, &in.ExternalID, &in.Name, in.OwnerID); err != nil {
			return nil, err
		}
		return tx.Entitlement.Create().SetInput(in).Save(ctx)
	})
}

// UpdateEntitlement changes an entitlement. IT_ADMIN only. Errors as
// CreateEntitlement, plus NOT_FOUND for an unknown entitlement.
func (s *Service) UpdateEntitlement(ctx context.Context, id pulid.ID, in ent.UpdateEntitlementInput) (*ent.Entitlement, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.Entitlement, error) {
		e, err := tx.Entitlement.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := checkEntitlement(ctx, tx, id, e.ApplicationID, in.ExternalID, in.Name, in.OwnerID); err != nil {
			return nil, err
		}
		return tx.Entitlement.UpdateOneID(id).SetInput(in).Save(ctx)
	})
}

func checkEntitlement(ctx context.Context, tx *ent.Tx, self, app pulid.ID, externalID, name *string, owner *pulid.ID) error {
	if externalID != nil {
		taken, err := tx.Entitlement.Query().
			Where(entitlement.ApplicationID(app), entitlement.ExternalID(*externalID), entitlement.IDNEQ(self)).
			Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return errcode.Duplicate("externalID", "the application already has an entitlement with external ID %q", *externalID)
		}
	}
	if name != nil {
		taken, err := tx.Entitlement.Query().
			Where(entitlement.ApplicationID(app), entitlement.Name(*name), entitlement.IDNEQ(self)).
			Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return errcode.Duplicate("name", "the application already has an entitlement named %q", *name)
		}
	}
	return people(ctx, tx, "ownerID", "an entitlement owner", optional(owner))
}
