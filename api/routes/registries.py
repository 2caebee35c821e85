"""Registry routes (admin): hospitals and persons, put whole."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.core.access import may_see_hospital, require_roles
from api.core.body import StrictJsonRoute
from api.core.contract import ID_PATTERN, HospitalIn, PersonIn
from api.core.deps import CurrentPrincipal, State
from api.db.tables import HospitalPublic, PersonPublic
from api.routes.responses import PROBLEMS
from api.services.registries import get_hospital, get_person, write_hospital, write_person

router = APIRouter(prefix="/v1", tags=["registries"], route_class=StrictJsonRoute)

RegistryId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]


@router.put(
    "/hospitals/{hospital_id}",
    response_model=HospitalPublic,
    responses={201: {"model": HospitalPublic, "description": "Created"}, **PROBLEMS},
    summary="Register or update a hospital",
)
def put_hospital(
    hospital_id: RegistryId, body: HospitalIn, principal: CurrentPrincipal, state: State
) -> JSONResponse:
    require_roles(principal, "admin")
    put = write_hospital(state.engine, hospital_id, body, principal.actor)
    return JSONResponse(put.value.model_dump(mode="json"), status_code=201 if put.created else 200)


@router.get("/hospitals/{hospital_id}", response_model=HospitalPublic, responses=PROBLEMS)
def read_hospital(
    hospital_id: RegistryId, principal: CurrentPrincipal, state: State
) -> HospitalPublic:
    require_roles(principal, "admin", "finance", "hospital")
    if not may_see_hospital(principal, hospital_id):
        require_roles(principal, "admin", "finance")
    return get_hospital(state.engine, hospital_id)


@router.put(
    "/persons/{person_id}",
    response_model=PersonPublic,
    responses={201: {"model": PersonPublic, "description": "Created"}, **PROBLEMS},
    summary="Register or update a person with their assistance statuses",
)
def put_person(
    person_id: RegistryId, body: PersonIn, principal: CurrentPrincipal, state: State
) -> JSONResponse:
    """`id_number` is stored for matching and never shown in full again (last 4 characters)."""
    require_roles(principal, "admin")
    put = write_person(state.engine, person_id, body, principal.actor)
    return JSONResponse(put.value.model_dump(mode="json"), status_code=201 if put.created else 200)


@router.get("/persons/{person_id}", response_model=PersonPublic, responses=PROBLEMS)
def read_person(person_id: RegistryId, principal: CurrentPrincipal, state: State) -> PersonPublic:
    require_roles(principal, "admin")
    return get_person(state.engine, person_id)
