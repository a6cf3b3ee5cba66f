"""What the library does; every function opens and commits its own session."""

from sqlalchemy import func, select

from library.db import SessionLocal
from library.models import Book, Loan, Member


class NoCopyLeft(Exception):
    """Every copy of the book is out."""


def add_book(title: str, copies: int = 1) -> int:
    with SessionLocal() as session:
        book = Book(title=title, copies=copies)
        session.add(book)
        session.commit()
        return book.id


def add_member(email: str) -> int:
    with SessionLocal() as session:
        member = Member(email=email)
        session.add(member)
        session.commit()
        return member.id


def lend(book_id: int, member_id: int) -> int:
    """Lend a copy; the book's row is locked, so two desks never lend the last copy twice."""
    with SessionLocal() as session:
        book = session.execute(
            select(Book).where(Book.id == book_id).with_for_update()
        ).scalar_one()
        if book.copies == 0:
            raise NoCopyLeft(book.title)
        book.copies -= 1
        loan = Loan(book_id=book_id, member_id=member_id)
        session.add(loan)
        session.commit()
        return loan.id


def give_back(loan_id: int) -> None:
    with SessionLocal() as session:
        loan = session.get_one(Loan, loan_id, with_for_update=True)
        if loan.returned:
            return
        loan.returned = True
        session.get_one(Book, loan.book_id).copies += 1
        session.commit()


def copies_left(book_id: int) -> int:
    with SessionLocal() as session:
        return session.get_one(Book, book_id).copies


def loans_of(member_id: int) -> list[str]:
    """Titles the member has out, in title order."""
    with SessionLocal() as session:
        rows = session.execute(
            select(Book.title)
            .join(Loan, Loan.book_id == Book.id)
            .where(Loan.member_id == member_id, Loan.returned.is_(False))
            .order_by(Book.title)
        )
        return list(rows.scalars())


def count_books() -> int:
    with SessionLocal() as session:
        return session.execute(select(func.count()).select_from(Book)).scalar_one()
