"""The shop's HTTP API."""

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from shop.db import get_session
from shop.models import Order, Product

app = FastAPI()
Session = Annotated[AsyncSession, Depends(get_session)]


class NewProduct(BaseModel):
    name: str
    stock: int


@app.post("/products", status_code=201)
async def add_product(new: NewProduct, session: Session) -> dict[str, int]:
    product = Product(name=new.name, stock=new.stock)
    session.add(product)
    try:
        await session.commit()
    except IntegrityError:
        raise HTTPException(409, f"{new.name!r} exists already (or stock < 0)") from None
    assert product.id is not None
    return {"id": product.id}


@app.get("/products")
async def list_products(session: Session) -> list[dict[str, object]]:
    products = (await session.exec(select(Product).order_by(Product.name))).all()
    return [{"name": p.name, "stock": p.stock} for p in products]


@app.post("/products/{product_id}/orders", status_code=201)
async def order(product_id: int, session: Session) -> dict[str, int]:
    """Order one; the product's row is locked, so the last one is sold once."""
    query = select(Product).where(Product.id == product_id).with_for_update()
    product = (await session.exec(query)).first()
    if product is None:
        raise HTTPException(404, "no such product")
    if product.stock == 0:
        raise HTTPException(409, f"{product.name!r} is sold out")
    product.stock -= 1
    placed = Order(product_id=product_id)
    session.add(placed)
    await session.commit()
    assert placed.id is not None
    return {"order": placed.id}
